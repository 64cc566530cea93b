-- The demo's credentials (scripts/demo.sh, docker/compose.yml): its login roles and the
-- signing secret; run last, after signing.sql, schema.sql, notify.sql and seed.sql. Not for
-- production: the passwords and the secret are published here.
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

-- The demo's only write of pgward.secret. It must equal [tenant] signing_secret in
-- docker/pgward.ini, which both the demo and compose run pgward with: with any other value
-- (or none) pgward.org_ids() rejects every signature and every table shows no rows.
INSERT INTO pgward.secret (secret) VALUES ('demo-signing-secret-change-me')
	ON CONFLICT (one_row) DO UPDATE SET secret = EXCLUDED.secret;
