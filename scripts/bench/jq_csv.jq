# What a shell user would write to turn saved getHistory pages (one JSON
# array per line) into the same CSV columns as `waexport convert --format csv`
# (SPEC 4.1, labels 4.3). Run: jq -rn -f jq_csv.jq PAGES.jsonl
# Differences that do not matter for timing: @csv quotes every string, lines
# end in LF (waexport: CRLF, quoted only where needed), rows stay newest first.
["unique","timestamp","time","direction","direction_code","from","to",
 "type","state","state_code","reason","message"],
(inputs | .[]
 | (.direction | tostring) as $d
 | [ .unique,
     .timestamp,
     (.timestamp | tonumber | todate),
     (if $d == "1" then "incoming" elif $d == "2" then "outgoing" else "unknown" end),
     .direction,
     .from,
     .to,
     .type,
     (if $d != "2" then ""
      else (.state | tostring) as $s
        | if $s == "0" then "failed" elif $s == "1" then "sent"
          elif $s == "2" then "delivered" elif $s == "3" then "read"
          else "unknown" end
      end),
     .state,
     (.reason // ""),
     .message ])
| @csv
