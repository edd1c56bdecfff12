/* Every limit devicelog enforces, in one place, each with the reason for its value.
 * docs/LIMITS.md mirrors this table for operators. */
#ifndef DLOG_LIMITS_H
#define DLOG_LIMITS_H

/* ---- HTTP ---- */
/* The longest query string we accept: 1,000 ids of 32 hex plus separators fit in 40 KB. */
#define DLOG_MAX_QUERY_LEN (64 * 1024)
/* libmicrohttpd keeps the request line and headers in the per-connection pool; it must be big
 * enough for the longest query we accept so the handler (not the library) answers oversize. */
#define DLOG_CONN_MEMORY (128 * 1024)
/* Total header bytes we accept (431 past it). */
#define DLOG_MAX_HEADER_BYTES (16 * 1024)
/* Simultaneous connections per daemon thread and per client address. */
#define DLOG_MAX_CONNECTIONS 4096
#define DLOG_MAX_CONNECTIONS_PER_IP 512
/* Seconds a connection may stay idle (also bounds slow-header and slow-body clients). */
#define DLOG_CONN_TIMEOUT_S 30
/* Largest request body: 10,000 events of ~1 KB each with room to spare. 413 before reading. */
#define DLOG_MAX_BODY (16 * 1024 * 1024)
/* Largest body for routes other than event ingest (JSON objects of a few fields). */
#define DLOG_MAX_SMALL_BODY (64 * 1024)
/* Largest response we build in memory: a page of 1,000 events of the largest allowed size. */
#define DLOG_MAX_RESPONSE (32 * 1024 * 1024)

/* Before authentication a request is cheaper to refuse and may come from anyone: its query
 * string and headers get tighter caps (the portal's pages and /health need none of this).
 * A bearer key is ~100 bytes, so 8 KiB of headers leaves room for any real browser or proxy. */
#define DLOG_MAX_QUERY_LEN_UNAUTH (4 * 1024)
#define DLOG_MAX_HEADER_BYTES_UNAUTH (8 * 1024)
/* Whole-request deadline, seconds, for a request whose body is still arriving (a client
 * trickling one byte per 29 s resets the idle timeout for ever; this cap does not move).
 * 120 s uploads 16 MiB at ~140 KB/s. Streams and exports, which answer for hours, are not
 * bound by it: it ends when the response starts. */
#define DLOG_REQUEST_TIMEOUT_S 120
/* Connections the metrics listener (--metrics-listen) accepts: a scraper or two; and its
 * per-connection memory (it reads only "GET /metrics" and a few headers). */
#define DLOG_METRICS_CONNECTIONS 16
#define DLOG_METRICS_CONN_MEMORY (32 * 1024)

/* ---- rate limits: token buckets, defaults of the serve options ----
 * SPEC §1: hundreds of requests per second per key, and a client paging at full speed (one
 * request at a time, ~24 µs of server work each: a few thousand per second on loopback, a few
 * hundred over a real network) is not throttled. 1,000/s with a burst of 2,000 leaves a pager
 * on a LAN untouched and stops a runaway loop from owning a daemon thread. */
#define DLOG_RATE_KEY 1000
#define DLOG_RATE_KEY_BURST 2000
/* Requests without a valid key (the portal's files, /health, failed authentications) per
 * client address: a browser loads the portal in ~10 requests; 50/s with a burst of 100 keeps
 * key guessing and floods of 401s cheap for us and slow for them. */
#define DLOG_RATE_IP 50
#define DLOG_RATE_IP_BURST 100
/* Buckets kept per table (keys, addresses). A full table evicts the bucket idle longest: its
 * owner starts again with a full bucket, which errs on the generous side. ~64 B each. */
#define DLOG_RATE_TABLE 16384
/* Longest Retry-After we announce, seconds (a very low configured rate would say more). */
#define DLOG_RATE_RETRY_MAX_S 60

/* Live streams: how often new commits are looked for, the heartbeat that keeps proxies from
 * closing an idle stream, how many streams one key and the whole server may hold open, and how
 * many events one wake-up sends before letting other connections run. */
#define DLOG_STREAM_POLL_MS 200
#define DLOG_STREAM_HEARTBEAT_S 15
#define DLOG_MAX_STREAMS_PER_KEY 8
#define DLOG_MAX_STREAMS 1024
#define DLOG_STREAM_BATCH 200
#define DLOG_STREAM_BUFFER (1024 * 1024)

/* ---- query grammar ---- */
/* Filter terms in one request (a real UI sends under 10). */
#define DLOG_MAX_TERMS 32
/* Values in one __in/__nin list (SPEC §1). */
#define DLOG_MAX_IN_VALUES 1000
/* Page size bounds and default (SPEC §1: clamped, not rejected). */
#define DLOG_LIMIT_MIN 2
#define DLOG_LIMIT_MAX 1000
#define DLOG_LIMIT_DEFAULT 50

/* ---- ingest ---- */
/* Events in one request: one request is one transaction; 10,000 keeps it under a second. */
#define DLOG_MAX_BATCH 10000
/* JSON nesting: an event is an object holding one flat object (data). Checked on the raw body
 * before it is parsed, as is the next one. */
#define DLOG_MAX_JSON_DEPTH 8
/* JSON values (members and elements) in one body. A parsed value costs jansson ~100 bytes:
 * 16 MiB of "[]," parsed unchecked took 770 MB. The largest valid batch, 10,000 events with
 * every field and 32 data keys, has ~820,000; 1,000,000 caps one request's tree near 100 MB. */
#define DLOG_MAX_JSON_VALUES 1000000
/* Lengths in bytes. event_type follows the original's maxLength 100. */
#define DLOG_MAX_DEVICE_ID_LEN 128
#define DLOG_MAX_EVENT_TYPE_LEN 100
#define DLOG_MAX_CATEGORY_LEN 64
#define DLOG_MAX_DESCRIPTION_LEN 1024
#define DLOG_MAX_IDEMPOTENCY_KEY_LEN 128
/* data: a flat string-to-string map. */
#define DLOG_MAX_DATA_KEYS 32
#define DLOG_MAX_DATA_KEY_LEN 64
#define DLOG_MAX_DATA_VALUE_LEN 1024
/* Any single string value in a filter. */
#define DLOG_MAX_VALUE_LEN 1024

/* ---- accounts and keys ---- */
#define DLOG_MAX_ACCOUNT_NAME_LEN 64
#define DLOG_KEY_SECRET_BYTES 32   /* 256 bits from getrandom() */
/* Active keys one account may hold (created over the API): a real account has a handful per
 * service or fleet; the cap keeps a runaway script from filling the store. */
#define DLOG_MAX_ACTIVE_KEYS 1000
/* Keys (revoked included) one listing walks: the API pages them in memory. */
#define DLOG_MAX_LISTED_KEYS 100000
#define DLOG_MAX_KEY_LEN 128       /* longest Authorization bearer token we look at */

/* ---- store ---- */
/* Group commit: requests waiting while a commit is on disk join the next one, up to this many
 * events and requests, so one transaction stays well under a second and its memory bounded. */
#define DLOG_MAX_GROUP_EVENTS 100000
#define DLOG_MAX_GROUP_REQUESTS 4096
/* The SQLite writer's dictionary caches (text -> id): every distinct code, category,
 * description and campaign id fits; devices up to a large fleet's active set (~100 bytes each,
 * so at most ~25 MB). */
#define DLOG_SQLITE_STRING_CACHE 65536
#define DLOG_SQLITE_DEVICE_CACHE 262144
/* The writer's cache of (account, event type, message type, category, description)
 * combinations known to be stored (40 bytes each, table twice this size: 2.5 MB). */
#define DLOG_SQLITE_ATTRS_CACHE 32768
/* A filter on a description, a category or a message type is narrowed to the event types that
 * carry the value while their events c and the account's n have c * c <= this times n
 * (sqlite.c, narrow): at 100k events per account, up to 632 events. */
#define DLOG_SQLITE_NARROW_FACTOR 4
/* the longest dictionary text a reader copies out when its id map is full */
#define DLOG_SQLITE_TEXT_MAX (1 << 20)
/* SQLite page caches (negative: KiB), as strings pasted into PRAGMA text: a writer cache
 * twice the readers' (its random updates then read fewer pages back), small per-reader caches.
 * Measured (bench/, 1M events): a 64 MiB writer cache with a 256 MiB map put the server at
 * 165 MB RSS under reads, over the 64 MB budget, for no gain in the figures. */
#define DLOG_SQLITE_WRITER_CACHE "-16384"
#define DLOG_SQLITE_READER_CACHE "-8192"
#define DLOG_SQLITE_MMAP "1073741824"
/* Events per zone of the SQLite store (an account's run of ids with its date range, which
 * date_time filters use to skip runs): about 2,500 rows per 10M events; a request's events
 * always go in one zone, so a zone can be larger by one request. */
#define DLOG_SQLITE_ZONE_EVENTS 4096
/* The SQLite store's device blocks (sqlite.c, docs/STORAGE.md "SQLite: device blocks"): the
 * merger moves the events appended since its last merge into their devices' blocks once this
 * many have gathered (dlog_store_set_merge_events sets another number), and at most this
 * many, or that number when larger, in one merge. A merge holds its events encoded (~15-20
 * bytes each with the blocks' bookkeeping) and the tail 8 bytes per event. Measured at 10M
 * events (bench/RESULTS.md, runs 24-26): bulk ingest unchanged, RSS under it ~60 MB more. */
#define DLOG_SQLITE_MERGE_EVENTS 524288
/* Events appended before the merger puts them into the secondary indexes of the SQLite store
 * (events(account_id), (account_id, code), (account_id, camp): partial, over indexed events;
 * the newer ones are found through memory). At most DLOG_SQLITE_INDEX_MAX per step, which is
 * one transaction under the writer's lock. */
#define DLOG_SQLITE_INDEX_EVENTS 32768
#define DLOG_SQLITE_INDEX_MAX 131072
/* ... or, fewer, once no event has been appended for this many ms: pages of a store at rest
 * then read no tail (measured at 16M events with 11k events pending: past-month pages 8.2k
 * req/s, 14.8k with none). */
#define DLOG_SQLITE_IDLE_INDEX_MS 1000
/* A group commit of at least this many events (bulk requests) puts them into those indexes as
 * it appends them when no earlier event waits for an index step: their entries go in at each
 * key's end in runs, and the rows are written once. */
#define DLOG_SQLITE_INLINE_INDEX 1024
/* A device or group filter with other terms reads the named devices' event ids from the tail
 * and the blocks and looks those rows up (sqlite.c, cand_*): up to this many per statement;
 * a page over more walks the account's ids instead, a count takes them in runs of this. */
#define DLOG_SQLITE_CAND_MAX 20000
/* WAL checkpoints (sqlite.c, "checkpoints"), in 4 KiB frames: the checkpointer thread copies
 * the WAL into the database once it holds 128 MiB; a writer does it itself only past 512 MiB.
 * A page written again before its copy is copied once, so the larger the WAL, the fewer
 * database writes per event under random index updates. Measured with 50 single-event
 * producers over the whole fleet (100 accounts) at 10M events, alternated: 64 MiB 15.4k,
 * 14.9k, 14.5k events/s (WAL at most 99-104 MiB); 128 MiB 16.6k, 16.9k, 15.7k (172-199 MiB);
 * 256 MiB 17.6k, 16.9k (317-324 MiB); bulk ingest unchanged (2M: 304k/304k vs 301k/305k).
 * 128 MiB: most of the gain for a WAL file of about 200 MiB, far from back-pressure. At 2M
 * events (before the WAL started over): 16 MiB 15.0k, 64 MiB 19.2k, 128 MiB 21.1k. */
#define DLOG_SQLITE_CKPT_FRAMES 32768
#define DLOG_SQLITE_WAL_MAX_FRAMES 131072
/* ... and leaves the writer the rest to copy once it is under this many frames: the catch-up
 * costs the committing group a sync of the database file, 7-17 ms measured, once per
 * checkpoint. */
#define DLOG_SQLITE_CKPT_CATCHUP 64
/* ... and copies whatever is left once the writer has been idle this long, milliseconds. */
#define DLOG_SQLITE_CKPT_IDLE_MS 200
/* The most WAL bytes gathered in memory (walbuf.c): a single-event group's ~110 frames are
 * 450 KiB; a bulk commit's frames go down each time this much has gathered. */
#define DLOG_SQLITE_WALBUF (4 * 1024 * 1024)
/* Busy timeout for SQLite locks, milliseconds: longer than the slowest batch commit. */
#define DLOG_SQLITE_BUSY_MS 10000

/* ---- export and retention ---- */
/* Events read per store query while exporting: a page as the list's largest, so one step is one
 * short query and its rows fit the stream buffer (DLOG_STREAM_BUFFER) in the usual case. */
#define DLOG_EXPORT_PAGE 1000
/* Retention deletes at most this many events per transaction, then pauses: a step holds the
 * SQLite writer for tens of milliseconds, so ingest waits at most that long. */
#define DLOG_RETENTION_BATCH 10000
#define DLOG_RETENTION_PAUSE_MS 50
/* How often retention looks for expired events once it has caught up. */
#define DLOG_RETENTION_INTERVAL_S 3600

#endif
