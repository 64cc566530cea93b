-- Defence in depth for the tenant context ([tenant] signing_secret). pgward also sets
-- app.tenant_sig = hex(HMAC-SHA256(secret, app.user_id || app.user_org_ids || backend pid));
-- pgward.org_ids() returns the organization ids only when that signature verifies, else an
-- empty array. Policies that read pgward.org_ids() (tenant_org_ids() below) therefore stay
-- safe even against SQL pgward cannot see (function bodies, DO blocks): a context set by
-- hand, or copied from another session (another backend pid), yields no rows.
--
-- Run as the schema owner after schema.sql, then store the same secret as in pgward.ini:
--   INSERT INTO pgward.secret VALUES ('<signing_secret>');
-- The secret table is readable only by its owner; the function runs as that owner.
CREATE SCHEMA IF NOT EXISTS pgward;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA pgward;
CREATE TABLE IF NOT EXISTS pgward.secret (secret text NOT NULL);
REVOKE ALL ON pgward.secret FROM PUBLIC;

CREATE OR REPLACE FUNCTION pgward.org_ids() RETURNS uuid[]
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids text := current_setting('app.user_org_ids', true);
	uid text := current_setting('app.user_id', true);
	sig text := current_setting('app.tenant_sig', true);
	key text;
BEGIN
	IF ids IS NULL OR ids = '' OR uid IS NULL OR sig IS NULL OR sig = '' THEN
		RETURN '{}';
	END IF;
	SELECT s.secret INTO key FROM pgward.secret s LIMIT 1;
	IF key IS NULL OR encode(pgward.hmac(uid || ids || pg_backend_pid()::text, key, 'sha256'),
				 'hex') <> sig THEN
		RETURN '{}';
	END IF;
	RETURN ids::uuid[];
END $$;
REVOKE ALL ON FUNCTION pgward.org_ids() FROM PUBLIC;
GRANT USAGE ON SCHEMA pgward TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgward.org_ids() TO PUBLIC;

-- Every policy of schema.sql reads tenant_org_ids(): from now on only a signed context counts.
CREATE OR REPLACE FUNCTION tenant_org_ids() RETURNS uuid[]
	LANGUAGE sql STABLE
	AS $$ SELECT pgward.org_ids() $$;
