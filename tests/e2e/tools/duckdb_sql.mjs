// duckdb_sql.mjs PREFIX [-bail] DBFILE [QUERY] -- the `duckdb` shell, as far as
// the README's warehouse recipes use it: the SQL on stdin runs statement by
// statement (split at ';' ending a line) against DBFILE, and the first error
// ends it with status 1 (as the shell's -bail does; an open transaction is
// then rolled back); with QUERY, its rows are printed as one JSON array of
// DuckDB's own to_json() texts (BIGINT stays an exact integer). PREFIX is the
// npm prefix holding @duckdb/node-api.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const prefix = args.shift();
if (args[0] === '-bail') args.shift();
const [db, query] = args;
if (!prefix || !db) {
  process.stderr.write('usage: node duckdb_sql.mjs PREFIX DBFILE [QUERY] < SQL\n');
  process.exit(64);
}
const require = createRequire(path.join(path.resolve(prefix), 'package.json'));
const { DuckDBInstance } = await import(pathToFileURL(require.resolve('@duckdb/node-api')).href);
const instance = await DuckDBInstance.create(db, { threads: '2' });
const conn = await instance.connect();
try {
  if (!query) {
    const sql = readFileSync(0, 'utf8');
    for (const stmt of sql.split(/;[ \t]*\n/)) {
      if (stmt.trim()) await conn.run(stmt);
    }
  } else {
    const rows = await conn.runAndReadAll(`SELECT to_json(_q)::VARCHAR AS j FROM (${query}) AS _q`);
    process.stdout.write(JSON.stringify(rows.getRowObjectsJson().map((r) => r.j)) + '\n');
  }
} catch (e) {
  process.stderr.write(`duckdb: ${e.message}\n`);
  process.exit(1);
}
