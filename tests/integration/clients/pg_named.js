// node-postgres (npm "pg") named prepared statements for
// tests/integration/test_pool_prepared_drivers.py.
//
// Reads JSON on standard input: {"config": {...pg.Client config...}, "clients": N,
// "rounds": R, "iterations": I}. Logs N clients in, each with three named queries, which pg
// parses once per client and then only binds:
//   own: name "q1" on every client, text SELECT 'client-<i>:' || $1::text AS v (its own)
//   add: name "add" (odd clients) or "add_<i>" (even ones), text SELECT $1::int + 1 AS v
//   pid: name "pid", text SELECT pg_backend_pid() AS v
// Round r (R of them): client h = r % N runs BEGIN and its three queries, keeps its
// transaction open while all the others run theirs concurrently, runs pid again and
// COMMITs; when r % 4 == 3 it runs "div" (SELECT 1 / $1::int AS v) with 0 instead, then its
// own in the aborted transaction, and ROLLBACKs. Then all N clients at once, I iterations
// each: the three queries, every third iteration inside BEGIN ... COMMIT. Last, each client
// lists pg_prepared_statements of the backend it gets (a simple query: no statement of its
// own).
//
// Prints one JSON object: {"results": [{"client", "phase": "round"|"free", "round", "txn",
// "kind": "own"|"add"|"pid"|"fail", "arg", "value"}] (a fail's arg is the query, div or own,
// its value the SQLSTATE of its error or "none"), "names": {"<i>": [[name, statement], ...]},
// "error": null or {"client", "code", "message"}}. Exit status 1 after an error.
// The pg module comes from $NODE_PG_DIR (default: .cache/npm/node_modules/pg of the repo).
'use strict'

const fs = require('fs')
const path = require('path')

const pgDir = process.env.NODE_PG_DIR || path.join(__dirname, '..', '..', '..', '.cache', 'npm', 'node_modules', 'pg')
const { Client } = require(pgDir)

const results = []

async function one(c, query) {
  const r = await c.client.query(query)
  if (r.rows.length !== 1) throw new Error(`${query.name}: ${r.rows.length} rows`)
  return r.rows[0].v
}

async function three(c, phase, round, txn) {
  const own = String(round)
  results.push({ client: c.id, phase, round, txn, kind: 'own', arg: own,
                 value: await one(c, { name: 'q1', text: `SELECT 'client-${c.id}:' || $1::text AS v`,
                                       values: [own] }) })
  const arg = round * 1000 + c.id
  results.push({ client: c.id, phase, round, txn, kind: 'add', arg,
                 value: await one(c, { name: c.id % 2 ? 'add' : `add_${c.id}`, text: 'SELECT $1::int + 1 AS v',
                                       values: [arg] }) })
  await pid(c, phase, round, txn)
}

async function pid(c, phase, round, txn) {
  results.push({ client: c.id, phase, round, txn, kind: 'pid', arg: null,
                 value: await one(c, { name: 'pid', text: 'SELECT pg_backend_pid() AS v' }) })
}

async function failure(c, query) {
  try {
    await c.client.query(query)
    return 'none'
  } catch (e) {
    return e.code || String(e.message)
  }
}

async function aborted(c, round) {
  results.push({ client: c.id, phase: 'round', round, txn: true, kind: 'fail', arg: 'div',
                 value: await failure(c, { name: 'div', text: 'SELECT 1 / $1::int AS v', values: [0] }) })
  results.push({ client: c.id, phase: 'round', round, txn: true, kind: 'fail', arg: 'own',
                 value: await failure(c, { name: 'q1', text: `SELECT 'client-${c.id}:' || $1::text AS v`,
                                           values: [String(round)] }) })
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(0, 'utf8'))
  const clients = []
  const out = { results, names: {}, error: null }
  let current = null
  try {
    for (let i = 0; i < spec.clients; i++) {
      const client = new Client(Object.assign({ connectionTimeoutMillis: 10000 }, spec.config))
      client.on('error', () => {})
      current = i
      await client.connect()
      clients.push({ id: i, client })
    }
    for (let r = 0; r < spec.rounds; r++) {
      const h = clients[r % clients.length]
      current = h.id
      await h.client.query('BEGIN')
      await three(h, 'round', r, true)
      await Promise.all(clients.filter((c) => c !== h).map((c) => three(c, 'round', r, false).catch((e) => {
        e.client = c.id
        throw e
      })))
      current = h.id
      await pid(h, 'round', r, true)
      if (r % 4 === 3) {
        await aborted(h, r)
        await h.client.query('ROLLBACK')
      } else {
        await h.client.query('COMMIT')
      }
    }
    current = null
    await Promise.all(clients.map(async (c) => {
      try {
        for (let it = 0; it < spec.iterations; it++) {
          const txn = it % 3 === 2
          if (txn) await c.client.query('BEGIN')
          await three(c, 'free', it, txn)
          if (txn) await c.client.query('COMMIT')
        }
      } catch (e) {
        e.client = c.id
        throw e
      }
    }))
    for (const c of clients) {
      current = c.id
      const r = await c.client.query('SELECT name, statement FROM pg_prepared_statements ORDER BY name')
      out.names[c.id] = r.rows.map((row) => [row.name, row.statement])
    }
  } catch (e) {
    out.error = { client: e.client !== undefined ? e.client : current, code: e.code || null,
                  message: String(e.message) }
  } finally {
    await Promise.all(clients.map((c) => c.client.end().catch(() => {})))
  }
  process.stdout.write(JSON.stringify(out) + '\n')
  process.exitCode = out.error ? 1 : 0
}

main().catch((e) => {
  console.error(e)
  process.exit(2)
})
