-- Roles and signing secret of the demo (scripts/demo.sh, docker/compose.yml); run after
-- schema.sql, notify.sql, signing.sql and seed.sql. Not for production: the passwords and
-- the secret are published here.
--   alice, bob  login roles of Acme's and Globex's users (demo.map gives their organizations)
--   app         an application role that passes its end user's id in startup options
--               ([tenant] trusted_roles)
-- None of them is a superuser, owns the tables or has BYPASSRLS, so row-level security
-- applies to all three; schema.sql grants them the tables through PUBLIC.
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['alice', 'bob', 'app'] LOOP
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', r, r);
		END IF;
	END LOOP;
END $$;

-- The same secret as [tenant] signing_secret in docker/pgward.ini.
INSERT INTO pgward.secret (secret)
SELECT 'demo-signing-secret-change-me'
WHERE NOT EXISTS (SELECT FROM pgward.secret);
