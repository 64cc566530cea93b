-- The signed tenant context, which every policy of schema.sql reads: load this file first.
-- With [tenant] signing_secret, pgward sets, each time it hands this backend to a client,
--   app.tenant_sig = hex(HMAC-SHA256(secret, app.user_id || app.user_org_ids || backend pid
--                                            || ':' || checkout))
-- next to app.user_org_ids and app.user_id, and records the checkout number with
-- pgward.claim(): a number greater than any before on this backend. pgward.org_ids() returns
-- the organization ids only when that signature verifies, for this backend and its latest
-- checkout, against the secret stored in pgward.secret, else an empty array. So a context
-- pgward did not set (changed by a function body, a DO block, a trigger or an extension, none
-- of which pgward sees), copied from another session (another pid), or kept from an earlier
-- client of the same pooled backend (an earlier checkout) yields no rows; without a stored
-- secret, or with pgward not signing, every policy shows no rows (fail closed).
--
-- Run as the owner of the tables, then store the same secret as in pgward.ini (16+ characters):
--   psql -d app -f signing.sql -f schema.sql -f notify.sql
--   psql -d app -c "INSERT INTO pgward.secret VALUES ('<signing_secret>')"
-- To change it, UPDATE the row and reload pgward: sessions signed with the old secret see no
-- rows until they reconnect. The table is readable only by its owner; the function runs as
-- that owner.
CREATE SCHEMA IF NOT EXISTS pgward;
-- pgward.org_ids() calls pgward.hmac(): pgcrypto must live in this schema, not in one that
-- application roles can create functions in.
DO $$
DECLARE
	s name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		   WHERE e.extname = 'pgcrypto');
BEGIN
	IF s IS NOT NULL AND s <> 'pgward' THEN
		RAISE EXCEPTION 'pgcrypto is installed in schema %, pgward.org_ids() needs it in pgward', s
			USING HINT = 'ALTER EXTENSION pgcrypto SET SCHEMA pgward, then load this file again.';
	END IF;
END $$;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA pgward;

-- One row: the secret pgward signs with ([tenant] signing_secret).
CREATE TABLE IF NOT EXISTS pgward.secret (
	secret text NOT NULL CHECK (length(secret) >= 16),
	one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row)
);
REVOKE ALL ON pgward.secret FROM PUBLIC;

-- The latest checkout of each backend (by pid: a number only grows, so a reused pid's new
-- backend, claimed later, replaces the row). Unlogged: after a crash every backend is new.
CREATE UNLOGGED TABLE IF NOT EXISTS pgward.checkout (
	pid integer PRIMARY KEY,
	n bigint NOT NULL
);
REVOKE ALL ON pgward.checkout FROM PUBLIC;

-- pgward, handing this backend to a client: records checkout <n> if <sig> signs <uid>, <ids>
-- and <n> for this backend and <n> is greater than the last one, and says whether it did.
-- Otherwise nothing changes: the context pgward just set does not verify (no rows, as for
-- any context that does not verify), and a client calling it gains nothing, unable to sign.
CREATE OR REPLACE FUNCTION pgward.claim(uid text, ids text, n bigint, sig text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	key text;
BEGIN
	SELECT s.secret INTO key FROM pgward.secret s;
	IF key IS NULL OR sig IS NULL OR
	   encode(pgward.hmac(uid || ids || pg_backend_pid()::text || ':' || n::text, key, 'sha256'),
		  'hex') <> sig THEN
		RETURN false;
	END IF;
	INSERT INTO pgward.checkout AS c VALUES (pg_backend_pid(), n)
		ON CONFLICT (pid) DO UPDATE SET n = excluded.n WHERE c.n < excluded.n;
	RETURN FOUND;
END $$;
REVOKE ALL ON FUNCTION pgward.claim(text, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgward.claim(text, text, bigint, text) TO PUBLIC;

-- The session's organization ids if pgward signed them for this backend's latest checkout,
-- else '{}'.
CREATE OR REPLACE FUNCTION pgward.org_ids() RETURNS uuid[]
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids text := current_setting('app.user_org_ids', true);
	uid text := current_setting('app.user_id', true);
	sig text := current_setting('app.tenant_sig', true);
	key text;
	n bigint;
BEGIN
	IF ids IS NULL OR ids = '' OR uid IS NULL OR sig IS NULL OR sig = '' THEN
		RETURN '{}';
	END IF;
	SELECT s.secret INTO key FROM pgward.secret s;
	SELECT c.n INTO n FROM pgward.checkout c WHERE c.pid = pg_backend_pid();
	IF key IS NULL OR n IS NULL OR
	   encode(pgward.hmac(uid || ids || pg_backend_pid()::text || ':' || n::text, key, 'sha256'),
		  'hex') <> sig THEN
		RETURN '{}';
	END IF;
	RETURN ids::uuid[];
END $$;
REVOKE ALL ON FUNCTION pgward.org_ids() FROM PUBLIC;
GRANT USAGE ON SCHEMA pgward TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgward.org_ids() TO PUBLIC;
