-- The examples of squawk's rule documentation (docs/docs/<rule>.md in sbdchd/squawk), bad and
-- good, that PostgreSQL 15 parses; no table here is created in this file.
ALTER TABLE "core_recipe" ADD COLUMN "foo" integer DEFAULT 10 NOT NULL;
ALTER TABLE "core_recipe" ADD COLUMN "foo" integer;
ALTER TABLE "core_recipe" ALTER COLUMN "foo" SET DEFAULT 10;
ALTER TABLE "core_recipe" ALTER COLUMN "foo" SET NOT NULL;
ALTER TABLE "core_recipe" ADD COLUMN "foo" integer GENERATED ALWAYS as ("bar" + "baz") STORED;
ALTER TABLE "core_recipe" ADD COLUMN "created" timestamptz DEFAULT clock_timestamp();
ALTER TABLE "core_recipe" ADD COLUMN "uid" uuid DEFAULT gen_random_uuid();
ALTER TABLE "core_recipe" ADD COLUMN "created_at" timestamptz DEFAULT now();
ALTER TABLE "email" ADD CONSTRAINT "fk_user"
    FOREIGN KEY ("user_id") REFERENCES "user" ("id");
ALTER TABLE "email" ADD CONSTRAINT "fk_user"
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") NOT VALID;
ALTER TABLE "email" VALIDATE CONSTRAINT "fk_user";
ALTER TABLE "recipe" ALTER COLUMN "view_count" SET NOT NULL;
ALTER TABLE "recipe" ADD CONSTRAINT view_count_not_null
    CHECK ("view_count" IS NOT NULL) NOT VALID;
ALTER TABLE "recipe" VALIDATE CONSTRAINT view_count_not_null;
ALTER TABLE "recipe" ADD COLUMN "name" text NOT NULL;
ALTER TABLE "recipe" ADD COLUMN "name" text NOT NULL DEFAULT '';
ALTER TABLE account ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX CONCURRENTLY account_pk_idx ON account (id);
ALTER TABLE account ADD CONSTRAINT account_pk PRIMARY KEY USING INDEX account_pk_idx;
ALTER TABLE "accounts" ADD CONSTRAINT "positive_balance" CHECK ("balance" >= 0);
ALTER TABLE "accounts" ADD CONSTRAINT "positive_balance" CHECK ("balance" >= 0) NOT VALID;
ALTER TABLE accounts VALIDATE CONSTRAINT positive_balance;
ALTER TABLE distributors ADD CONSTRAINT dist_id_uniq UNIQUE (dist_id);
CREATE UNIQUE INDEX CONCURRENTLY dist_id_uniq ON distributors (dist_id);
ALTER TABLE distributors ADD CONSTRAINT distributors_dist_id_key UNIQUE USING INDEX dist_id_uniq;
ALTER TABLE distributors
    ADD COLUMN dist_id text CONSTRAINT dist_id_uniq UNIQUE;
ALTER TABLE distributors ADD COLUMN dist_id text;
vacuum full t;
cluster t using t_pkey;
vacuum t;
ALTER TABLE t DETACH PARTITION p;
ALTER TABLE t DETACH PARTITION p CONCURRENTLY;
REINDEX TABLE foo;
REINDEX INDEX foo_idx;
REINDEX TABLE CONCURRENTLY foo;
REINDEX INDEX CONCURRENTLY foo_idx;
truncate a cascade;
truncate a, b;
ALTER TABLE "core_recipe" ALTER COLUMN "edits" TYPE text USING "edits"::text;
ALTER TABLE "core_recipe" ALTER COLUMN "name" TYPE varchar(255);
ALTER TABLE "core_recipe" DROP COLUMN "foo";
ALTER TABLE "core_bar" RENAME COLUMN "foo" TO "bar";
ALTER TABLE "core_bar" RENAME TO "core_foo";
DROP TABLE "core_recipe";
DROP DATABASE "table_name";
DROP DATABASE IF EXISTS "table_name";
CREATE INDEX "field_name_idx" ON "table_name" ("field_name");
CREATE INDEX CONCURRENTLY "field_name_idx" ON "table_name" ("field_name");
DROP INDEX "field_name_idx";
DROP INDEX CONCURRENTLY "field_name_idx";
DROP INDEX CONCURRENTLY IF EXISTS "field_name_idx";
ALTER TABLE "app_user" ALTER COLUMN "email" DROP NOT NULL;
ALTER TABLE "app_user" ADD COLUMN "id" serial PRIMARY KEY;
ALTER TABLE "app_user" ADD COLUMN "seq" bigserial;
ALTER TABLE "app_user" ADD COLUMN "ident" bigint GENERATED ALWAYS AS IDENTITY;
ALTER DOMAIN domain_name ADD CONSTRAINT constraint_name CHECK (value > 0);
CREATE DOMAIN domain_name_3 AS NUMERIC(15,5) CHECK (value > 0);
ALTER TYPE my_enum ADD VALUE 'new_value';
SET lock_timeout = '1s';
SET statement_timeout = '5s';
ALTER TABLE "core_recipe" ADD COLUMN "foo" varchar(255);
