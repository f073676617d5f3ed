// duckdb_read.mjs PREFIX FILE... -- read each waexport NDJSON file (plain or
// .gz) with DuckDB's read_json(format='newline_delimited'), schema inferred,
// and print one JSON object on stdout:
//   {"version": "...", "files": {FILE: {"columns": [[name, type], ...],
//                                        "rows": [row as JSON text, ...]}}}
// Rows come back as DuckDB's own to_json() of each row, so BIGINT stays an
// exact JSON integer and VARCHAR a string (no JavaScript number in between).
// PREFIX is the npm prefix holding node_modules/@duckdb/node-api (ESM ignores
// NODE_PATH, so the package is resolved from there explicitly).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [prefix, ...files] = process.argv.slice(2);
if (!prefix || files.length === 0) {
  process.stderr.write('usage: node duckdb_read.mjs PREFIX FILE...\n');
  process.exit(64);
}
const require = createRequire(path.join(path.resolve(prefix), 'package.json'));
const { DuckDBInstance } = await import(pathToFileURL(require.resolve('@duckdb/node-api')).href);

const lit = (s) => "'" + s.replaceAll("'", "''") + "'";
const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
const conn = await instance.connect();
const version = (await conn.runAndReadAll('SELECT version() AS v')).getRowObjectsJson()[0].v;
const out = { version, files: {} };
for (const f of files) {
  const src = `read_json(${lit(f)}, format = 'newline_delimited')`;
  const desc = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`);
  const columns = desc.getRowObjectsJson().map((r) => [r.column_name, r.column_type]);
  const rows = await conn.runAndReadAll(`SELECT to_json(t)::VARCHAR AS j FROM ${src} AS t`);
  out.files[f] = { columns, rows: rows.getRowObjectsJson().map((r) => r.j) };
}
process.stdout.write(JSON.stringify(out) + '\n');
