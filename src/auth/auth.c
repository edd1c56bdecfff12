/* Access keys; see auth.h. */
#include "auth/auth.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "base/limits.h"

#define PREFIX "ak_"
#define PREFIX_LEN 3
#define ID_HEX 32
#define SECRET_HEX (2 * DLOG_KEY_SECRET_BYTES)

int dlog_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return DLOG_EIO;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int dlog_sha256(const void *data, size_t len, uint8_t out[32])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) == 0 ? 0 : DLOG_EIO;
}

/* Equal-time compare: the time taken does not depend on where the first difference is. */
static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int dlog_auth_key_create(struct dlog_store *s, int64_t account_id, enum dlog_scope scope,
			 const char *name, char key_out[DLOG_KEY_STRLEN],
			 struct dlog_key_info *info_out)
{
	uint8_t raw[ID_HEX / 2 + DLOG_KEY_SECRET_BYTES];
	uint8_t hash[32];
	struct dlog_key_info k;
	int rc = dlog_random(raw, sizeof(raw));

	if (rc != 0)
		return rc;
	memcpy(key_out, PREFIX, PREFIX_LEN);
	dlog_hex_encode(raw, sizeof(raw), key_out + PREFIX_LEN);
	memset(&k, 0, sizeof(k));
	memcpy(k.key_id, key_out + PREFIX_LEN, ID_HEX);
	k.key_id[ID_HEX] = '\0';
	k.account_id = account_id;
	k.scope = scope;
	k.created_at = dlog_time_now();
	if (name != NULL)
		snprintf(k.name, sizeof(k.name), "%s", name);
	rc = dlog_sha256(key_out, PREFIX_LEN + ID_HEX + SECRET_HEX, hash);
	if (rc == 0)
		rc = dlog_store_key_add(s, &k, hash);
	memset(raw, 0, sizeof(raw));
	if (rc == 0 && info_out != NULL)
		*info_out = k;
	if (rc != 0)
		memset(key_out, 0, DLOG_KEY_STRLEN);
	return rc;
}

/* The token of "Bearer <token>", with the scheme matched case-insensitively. */
static int bearer_token(const char *h, size_t len, const char **tok, size_t *tlen)
{
	static const char scheme[] = "bearer ";
	size_t i = sizeof(scheme) - 1;

	if (h == NULL || len <= i || !dlog_word_eq(h, i, scheme))
		return DLOG_EAUTH;
	while (i < len && h[i] == ' ')
		i++;
	while (len > i && h[len - 1] == ' ')
		len--;
	*tok = h + i;
	*tlen = len - i;
	return 0;
}

int dlog_auth_check(struct dlog_store *s, const char *header, size_t len,
		    struct dlog_key_info *out)
{
	const char *tok;
	size_t tlen;
	char key_id[ID_HEX + 1];
	uint8_t want[32], have[32];
	uint64_t dummy;
	int rc = bearer_token(header, len, &tok, &tlen);

	if (rc != 0)
		return rc;
	if (tlen != PREFIX_LEN + ID_HEX + SECRET_HEX || memcmp(tok, PREFIX, PREFIX_LEN) != 0 ||
	    dlog_hex_u64(tok + PREFIX_LEN, 16, &dummy) != 0 ||
	    dlog_hex_u64(tok + PREFIX_LEN + 16, 16, &dummy) != 0)
		return DLOG_EAUTH;
	memcpy(key_id, tok + PREFIX_LEN, ID_HEX);
	key_id[ID_HEX] = '\0';
	rc = dlog_store_key_lookup(s, key_id, out, want);
	if (rc == DLOG_ENOTFOUND)
		return DLOG_EAUTH;
	if (rc != 0)
		return rc;
	rc = dlog_sha256(tok, tlen, have);
	if (rc != 0)
		return rc;
	if (!ct_equal(want, have, 32) || out->revoked_at != 0)
		return DLOG_EAUTH;
	return 0;
}
