#!/bin/bash
# cmp-devices.sh DL_A DB_A DL_B DB_B KEYS DEVICES: device queries (device only, with other
# terms, lists, unknown devices, totals, cursors) from two servers over copies of one store;
# their pages must be equal byte for byte. KEYS and DEVICES hold "ACCOUNT_INDEX KEY" and
# "ACCOUNT_INDEX DEVICE_ID" lines (a read key per account; the devices of each); three accounts
# are taken: the first, the middle and the last of DEVICES. Prints "compared N pages (M with events), K differ".
# Used to check that a store upgraded to device blocks answers as the original did.
start() { $1 serve --listen 127.0.0.1:0 --store sqlite:$2 --quiet --rate-key 1000000 --rate-key-burst 10000000 >/dev/null 2>$2.err & echo $! > $2.pid; for i in $(seq 600); do p=$(grep -o '127.0.0.1:[0-9]*' $2.err | head -1); [ -n "$p" ] && break; sleep 0.1; done; echo $p; }
a=$(start $1 $2); b=$(start $3 $4)
fails=0; n=0; nonempty=0
mapfile -t accs < <(awk '{print $1}' "$6" | uniq)
for acc in "${accs[0]}" "${accs[$(( ${#accs[@]} / 2 ))]}" "${accs[-1]}"; do
 key=$(awk -v a=$acc '$1==a{print $2; exit}' "$5")
 mapfile -t devs < <(awk -v a=$acc '$1==a{print $2}' "$6" | head -8)
 for i in 0 1 2 3 4 5 6; do D=${devs[$i]}; D2=${devs[$((i+1))]}
  for q in "device_id=$D&order=DESC" "device_id=$D&order=ASC&limit=7" "device_id=$D&limit=30&include=total_count" "device_id=$D&limit=1000" \
    "device_id=$D&event_type=SYS_112&include=total_count" "device_id=$D&event_type__in=SYS_112,UPD4_FAIL_34&order=DESC&limit=5" \
    "device_id=$D&date_time__gte=2025-06-01T00:00:00Z&order=DESC&include=total_count&limit=10" "device_id__in=$D,$D2&order=DESC&limit=20&include=total_count" \
    "device_id__in=$D,$D2,nosuchdevice&order=ASC&limit=13" "device_id=$D&event_type__neq=SYS_112&limit=9" "device_id=nosuchdevice&include=total_count" \
    "device_id=$D&state_change=true&include=total_count" "device_id__nin=$D&limit=5&order=DESC"; do
   u="/v3/device-events/?$q"
   for k in 1 2 3 4 5 6; do
    ra=$(curl -s -H "Authorization: Bearer $key" "http://$a$u"); rb=$(curl -s -H "Authorization: Bearer $key" "http://$b$u")
    n=$((n+1)); [ "$ra" == "$rb" ] || { fails=$((fails+1)); echo "DIFF $u"; echo "$ra" | head -c 200; echo; echo "$rb" | head -c 200; echo; }
    echo "$ra" | grep -q '"data":\[{' && nonempty=$((nonempty+1))
    last=$(echo "$ra" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["data"][-1]["id"] if d.get("data") and d["has_more"] else "")')
    [ -z "$last" ] && break
    u="/v3/device-events/?$q&after=$last"
   done
  done
 done
done
echo "compared $n pages ($nonempty with events), $fails differ"
kill $(cat $2.pid) $(cat $4.pid); wait
