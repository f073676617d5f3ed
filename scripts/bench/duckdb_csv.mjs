// duckdb_csv.mjs IN OUT -- DuckDB doing `waexport convert --format csv`:
// reads saved getHistory pages (one JSON array per line), unnests the
// messages and writes the same columns as waexport's CSV (SPEC 4.1, labels
// 4.3) with COPY ... TO. Uses DuckDB's default thread count (all cores).
// Needs @duckdb/node-api, installed by scripts/bench.sh under the npm prefix
// build/bench (override with env DUCKDB_NODE_PREFIX): ESM imports ignore
// NODE_PATH, so the package is resolved from that prefix explicitly.
// Prints the number of rows written on stdout.
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const prefix = process.env.DUCKDB_NODE_PREFIX ?? path.join(here, '..', '..', 'build', 'bench');
const require = createRequire(path.join(path.resolve(prefix), 'package.json'));
const { DuckDBInstance } = await import(pathToFileURL(require.resolve('@duckdb/node-api')).href);

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
  process.stderr.write('usage: node duckdb_csv.mjs IN.jsonl OUT.csv\n');
  process.exit(64);
}
const lit = (s) => "'" + s.replaceAll("'", "''") + "'";

// Each line is one array of message objects: records=false gives one column
// `json` per line; unnest() turns it into one row per message. The schema is
// given, not sniffed, with every field VARCHAR so that string/number drift
// in the API (SPEC 1) cannot fail the cast.
const SQL = `
COPY (
  SELECT
    m."unique"                                          AS "unique",
    m."timestamp"                                       AS "timestamp",
    strftime(to_timestamp(TRY_CAST(m."timestamp" AS BIGINT)),
             '%Y-%m-%dT%H:%M:%SZ')                      AS "time",
    CASE m.direction WHEN '1' THEN 'incoming'
                     WHEN '2' THEN 'outgoing'
                     ELSE 'unknown' END                 AS direction,
    m.direction                                         AS direction_code,
    m."from"                                            AS "from",
    m."to"                                              AS "to",
    m."type"                                            AS "type",
    CASE WHEN m.direction IS DISTINCT FROM '2' THEN ''
         ELSE CASE m.state WHEN '0' THEN 'failed'
                           WHEN '1' THEN 'sent'
                           WHEN '2' THEN 'delivered'
                           WHEN '3' THEN 'read'
                           ELSE 'unknown' END END       AS state,
    m.state                                             AS state_code,
    coalesce(m.reason, '')                              AS reason,
    m.message                                           AS message
  FROM (
    SELECT unnest(json) AS m
    FROM read_json(${lit(inPath)},
                   format = 'newline_delimited', records = false,
                   columns = {json: 'STRUCT("unique" VARCHAR, "timestamp" VARCHAR,
                       direction VARCHAR, "from" VARCHAR, "to" VARCHAR,
                       "type" VARCHAR, state VARCHAR, reason VARCHAR,
                       message VARCHAR)[]'})
  )
) TO ${lit(outPath)} (FORMAT csv, HEADER, DELIMITER ',')`;

const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
await conn.run("SET TimeZone = 'UTC'");
const result = await conn.run(SQL);
process.stdout.write(`${result.rowsChanged} rows\n`);
conn.closeSync?.();
