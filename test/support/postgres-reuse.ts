/**
 * Making a used test database empty again, as CREATE DATABASE made it, so that a test file can go on with one
 * database instead of creating and dropping one per test: CREATE DATABASE copies the template and, with DROP
 * DATABASE, waits on fsyncs (about 0.2 s a pair on an idle machine, far more under load, and the fsyncs slow
 * the SQLite suites beside it); emptying one costs a few tens of milliseconds.
 *
 * Everything the service creates (tables, indexes, the trigger and its function) lives in the current schema,
 * public, and so does what tests add; a restore refuses a database holding tables it does not know, and the
 * structure check reports any table, column or trigger too many or too few. So emptying drops every schema that
 * is not the system's and makes them again as the fresh database had them (owner, privileges, comment). What
 * lies outside schemas (extensions, languages, large objects, event triggers, ...) and the database's own
 * attributes (owner, privileges, settings) are compared with the fresh database's: when a test changed any of
 * them, emptying fails and the caller drops the database instead. The sessions on it are ended first and the
 * database is renamed last, so that a client a test left open (a pool that reconnects, a child process) finds
 * no database, as it would after DROP DATABASE, instead of writing into the next test's.
 */
import { SQL } from "bun";

/** A schema of the database's own, not the system's (pg_catalog, pg_toast, pg_temp_N, information_schema). */
const USER_SCHEMA = "nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'";

/** What is in the database outside its tables' rows, as one comparable text. Temporary schemas stay once made; no test sees them. */
const INSIDE_FINGERPRINT = `SELECT json_build_object(
  'schemas', (SELECT json_agg(json_build_object('name', nspname, 'owner', nspowner::regrole::text, 'acl', nspacl::text,
                'comment', obj_description(oid, 'pg_namespace')) ORDER BY nspname)
              FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'),
  'objectsInUserSchemas', json_build_array(
    (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_SCHEMA}),
    (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_SCHEMA}),
    (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE ${USER_SCHEMA})),
  'extensions', (SELECT json_agg(extname || ' ' || extversion ORDER BY extname) FROM pg_extension),
  'languages', (SELECT json_agg(lanname ORDER BY lanname) FROM pg_language),
  'outsideSchemas', json_build_array((SELECT count(*) FROM pg_largeobject_metadata), (SELECT count(*) FROM pg_event_trigger),
    (SELECT count(*) FROM pg_publication), (SELECT count(*) FROM pg_default_acl), (SELECT count(*) FROM pg_cast),
    (SELECT count(*) FROM pg_foreign_data_wrapper), (SELECT count(*) FROM pg_foreign_server), (SELECT count(*) FROM pg_am),
    (SELECT count(*) FROM pg_transform))
)::text AS fingerprint`;

/** The statements that make the fresh database's own schemas again, empty: owner, each privilege, comment. */
const RECREATION = `SELECT coalesce(string_agg(statement, E';\\n' ORDER BY schema, step), '') AS script FROM (
  SELECT nspname AS schema, 0 AS step, format('CREATE SCHEMA %I AUTHORIZATION %s', nspname, nspowner::regrole) AS statement
    FROM pg_namespace WHERE ${USER_SCHEMA}
  UNION ALL
  SELECT nspname, 1, format('GRANT %s ON SCHEMA %I TO %s%s', a.privilege_type, nspname,
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
    FROM pg_namespace, aclexplode(nspacl) a WHERE ${USER_SCHEMA}
  UNION ALL
  SELECT nspname, 2, format('COMMENT ON SCHEMA %I IS %L', nspname, obj_description(oid, 'pg_namespace'))
    FROM pg_namespace WHERE ${USER_SCHEMA} AND obj_description(oid, 'pg_namespace') IS NOT NULL
) statements`;

const DROP_USER_SCHEMAS = `DO $$DECLARE s name; BEGIN
  FOR s IN SELECT nspname FROM pg_namespace WHERE ${USER_SCHEMA} LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP;
END$$`;

/** How a fresh database of this server looks (they are all copies of the same template), and how to get back to it. */
export interface FreshDatabase {
  inside: string;
  attributes: string;
  recreation: string;
}

export interface DatabaseRef {
  name: string;
  url: string;
}

/** A session of its own on the database; `database` is explicit because PGDATABASE overrides the URL's. */
function sessionOn(database: DatabaseRef): SQL {
  return new SQL({ url: database.url, database: database.name, max: 1, connectionTimeout: 5 });
}

/** The database's own attributes, read from the server's catalog through `admin` (a session on another database). */
async function attributesOf(admin: SQL, name: string): Promise<string> {
  const [row] = await admin`
    SELECT json_build_object('owner', datdba::regrole::text, 'acl', datacl::text, 'connectionLimit', datconnlimit,
      'allowConnections', datallowconn, 'template', datistemplate, 'tablespace', dattablespace, 'comment', shobj_description(oid, 'pg_database'),
      'settings', (SELECT json_agg(setrole::text || ' ' || setconfig::text ORDER BY setrole) FROM pg_db_role_setting WHERE setdatabase = d.oid))::text AS attributes
    FROM pg_database d WHERE datname = ${name}`;
  if (!row) throw new Error(`database ${name} is gone`);
  return row.attributes;
}

/**
 * Ends every other session on the database and waits until they are gone: the rename that follows, and a test
 * counting the sessions on its new database, must find none. A session that keeps coming back makes it fail.
 */
async function endSessions(admin: SQL, name: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const [row] = await admin`
      SELECT count(*) AS n, count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity WHERE datname = ${name} AND pid <> pg_backend_pid()`;
    if (Number(row.n) === 0) return;
    if (Date.now() > deadline) throw new Error(`the sessions on ${name} did not end`);
    await Bun.sleep(5);
  }
}

/** Reads how the database, just created, looks; its session has ended when this returns. */
export async function describeFresh(admin: SQL, database: DatabaseRef): Promise<FreshDatabase> {
  const sql = sessionOn(database);
  let inside: string;
  let recreation: string;
  try {
    [{ fingerprint: inside }] = await sql.unsafe(INSIDE_FINGERPRINT);
    [{ script: recreation }] = await sql.unsafe(RECREATION);
  } finally {
    await sql.close();
  }
  await endSessions(admin, database.name);
  return { inside, recreation, attributes: await attributesOf(admin, database.name) };
}

/**
 * Empties a used database back to `fresh` and renames it to `next`; throws (the database possibly half
 * emptied, under its old name) when it cannot be made indistinguishable from a fresh one.
 */
export async function emptyForReuse(admin: SQL, database: DatabaseRef, fresh: FreshDatabase, next: string): Promise<void> {
  // Sessions a test left open would hold locks on the tables dropped below.
  await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database.name} AND pid <> pg_backend_pid()`;
  const sql = sessionOn(database);
  try {
    await sql.unsafe(`SET client_min_messages = warning; SET lock_timeout = '5s'; ${DROP_USER_SCHEMAS}; ${fresh.recreation}`).simple();
    const [{ fingerprint }] = await sql.unsafe(INSIDE_FINGERPRINT);
    if (fingerprint !== fresh.inside) throw new Error(`${database.name} differs from a fresh database: ${fingerprint}`);
  } finally {
    await sql.close();
  }
  await endSessions(admin, database.name);
  const attributes = await attributesOf(admin, database.name);
  if (attributes !== fresh.attributes) throw new Error(`${database.name}'s attributes differ from a fresh database's: ${attributes}`);
  await admin.unsafe(`ALTER DATABASE "${database.name}" RENAME TO "${next}"`);
}
