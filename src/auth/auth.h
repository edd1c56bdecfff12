/* auth: access keys. A key is "ak_" + 32 hex of its public key id + 64 hex of a 256-bit secret
 * from the OS. The store keeps the key id and SHA-256 of the whole key, never the key; a check
 * finds the row by key id and compares the hashes in constant time. */
#ifndef DLOG_AUTH_H
#define DLOG_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* "ak_" + 32 + 64 hex + NUL */
#define DLOG_KEY_STRLEN 100

/* Create a key for account_id with scope and a label (may be ""), store its hash, and write
 * the key (shown once, never stored) into key_out and its id into info_out (may be NULL).
 * 0, DLOG_EIO (no randomness), or a store error. */
int dlog_auth_key_create(struct dlog_store *s, int64_t account_id, enum dlog_scope scope,
			 const char *name, char key_out[DLOG_KEY_STRLEN],
			 struct dlog_key_info *info_out);

/* Check an Authorization header value (pointer and length; NULL when absent) and fill *out
 * with the key's account and scope. DLOG_EAUTH for a missing, malformed, unknown or revoked
 * key; store errors pass through. */
int dlog_auth_check(struct dlog_store *s, const char *header, size_t len,
		    struct dlog_key_info *out);

/* SHA-256 of data into out. 0 or DLOG_EIO. */
int dlog_sha256(const void *data, size_t len, uint8_t out[32]);

/* Fill buf with n random bytes from the OS. 0 or DLOG_EIO. */
int dlog_random(void *buf, size_t n);

#endif
