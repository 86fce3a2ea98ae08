-- Exchange fees: each server's fee in basis points (1/100 of a percent; 0, the
-- default, takes nothing), the fee each transaction took, and the system
-- account that collects them. A payment between two servers pays its target
-- the amount minus the fee and the fee account the fee (README, "Exchange fees").

ALTER TABLE servers ADD COLUMN fee_bps INTEGER NOT NULL DEFAULT 0
    CHECK (fee_bps >= 0 AND fee_bps <= 10000);
ALTER TABLE transactions ADD COLUMN fee INTEGER NOT NULL DEFAULT 0 CHECK (fee >= 0);

-- Like '@issuance', a 'system' account: never a login, never in a server list.
-- Dated as the issuance account, so the SQL needs no clock function.
INSERT INTO servers (uid, name, kind, created_at, updated_at)
SELECT '@fees', 'fees', 'system', created_at, created_at FROM servers WHERE uid = '@issuance';
