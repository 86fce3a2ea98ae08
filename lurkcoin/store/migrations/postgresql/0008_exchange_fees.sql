-- Exchange fees (see ../0008_exchange_fees.sql).
ALTER TABLE servers ADD COLUMN fee_bps BIGINT NOT NULL DEFAULT 0
    CHECK (fee_bps >= 0 AND fee_bps <= 10000);
ALTER TABLE transactions ADD COLUMN fee BIGINT NOT NULL DEFAULT 0 CHECK (fee >= 0);

INSERT INTO servers (uid, name, kind, created_at, updated_at)
SELECT '@fees', 'fees', 'system', created_at, created_at FROM servers WHERE uid = '@issuance';
