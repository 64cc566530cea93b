// node-postgres (npm "pg") logins for tests/integration/test_auth_clients.py.
// Reads a JSON array on standard input: [{"name": ..., "config": {...pg.Client config...}}],
// where config.ssl may name files as {"caFile", "certFile", "keyFile"} (read here) besides
// the options node's tls.connect takes. Logs in with each, in order, runs
// SELECT session_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid(), and prints one
// JSON array of results: {"name", "ok": true, "user", "serverSsl", "clientTls"} or
// {"name", "ok": false, "code", "message"}.
// The pg module comes from $NODE_PG_DIR (default: .cache/npm/node_modules/pg of the repo).
'use strict'

const fs = require('fs')
const path = require('path')

const pgDir = process.env.NODE_PG_DIR || path.join(__dirname, '..', '..', '..', '.cache', 'npm', 'node_modules', 'pg')
const { Client } = require(pgDir)

function sslOptions(ssl) {
  if (!ssl || typeof ssl !== 'object') return ssl
  const out = Object.assign({}, ssl)
  for (const [key, file] of [['ca', 'caFile'], ['cert', 'certFile'], ['key', 'keyFile']]) {
    if (out[file]) {
      out[key] = fs.readFileSync(out[file])
      delete out[file]
    }
  }
  return out
}

async function login(c) {
  const config = Object.assign({ connectionTimeoutMillis: 10000 }, c.config, { ssl: sslOptions(c.config.ssl) })
  const client = new Client(config)
  // an error event after the login (the server closing) must not crash the run
  client.on('error', () => {})
  try {
    await client.connect()
    const r = await client.query('SELECT session_user AS u, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
    const clientTls = Boolean(client.connection.stream && client.connection.stream.encrypted)
    return { name: c.name, ok: true, user: r.rows[0].u, serverSsl: r.rows[0].ssl, clientTls }
  } catch (e) {
    return { name: c.name, ok: false, code: e.code || null, message: String(e.message) }
  } finally {
    await client.end().catch(() => {})
  }
}

async function main() {
  const cases = JSON.parse(fs.readFileSync(0, 'utf8'))
  const results = []
  for (const c of cases) results.push(await login(c))
  process.stdout.write(JSON.stringify(results) + '\n')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
