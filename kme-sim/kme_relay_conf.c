/*
 * kme_relay_conf.c — the trusted-node relay's part of kme-sim.conf(5):
 * the top-level network key (every QKD link of the KME network as a
 * pair of KME IDs) and the [remote ID] sections (saes, route), read line
 * by line for kme_conf.c and then checked as a whole.
 */
#include "kme.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* The remote of this section: the last one, or a new one. */
static struct kme_remote_cfg *
kme_relay_cfg_remote(struct kme_cfg *c, const char *id,
		     const struct cfg_pos *pos)
{
	struct kme_remote_cfg *r =
	    c->nremotes > 0 ? &c->remotes[c->nremotes - 1] : NULL;

	if (r != NULL && strcmp(r->id, id) == 0)
		return r;
	if (!kme_cfg_valid_id(id)) {
		cfg_error(pos, "[remote ID] needs a KME ID, got '%.70s'", id);
		return NULL;
	}
	for (size_t i = 0; i < c->nremotes; i++) {
		if (strcmp(c->remotes[i].id, id) == 0) {
			cfg_error(pos, "[remote %s] appears twice", id);
			return NULL;
		}
	}
	if (c->nremotes >= KME_MAX_REMOTES) {
		cfg_error(pos, "more than %d [remote] sections",
			  KME_MAX_REMOTES);
		return NULL;
	}
	r = &c->remotes[c->nremotes++];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	return r;
}

/* Splits a list (spaces, tabs or commas) into IDs; -1 if one is bad. */
static int
kme_relay_cfg_ids(const char *v, char (*out)[KME_ID_MAX + 1], size_t max,
		  size_t *n, const char *what, const struct cfg_pos *pos)
{
	char buf[CFG_MAX_LINE], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (!kme_cfg_valid_id(tok)) {
			cfg_error(pos,
				  "bad %s '%.70s' (1..64 of A-Z a-z 0-9 _ - .)",
				  what, tok);
			return -1;
		}
		if (*n >= max) {
			cfg_error(pos, "more than %zu %ss", max, what);
			return -1;
		}
		snprintf(out[(*n)++], KME_ID_MAX + 1, "%s", tok);
	}
	return 0;
}

int
kme_relay_cfg_line(struct kme_cfg *c, const char *id, const char *key,
		   const char *v, const struct cfg_pos *pos)
{
	struct kme_remote_cfg *r = kme_relay_cfg_remote(c, id, pos);

	if (r == NULL)
		return -1;
	if (strcmp(key, "saes") == 0)
		return kme_relay_cfg_ids(v, r->saes, KME_MAX_SAES, &r->nsaes,
					 "SAE ID", pos);
	if (strcmp(key, "route") == 0) {
		size_t i = r->nroutes;

		if (i >= KME_RELAY_MAX_ROUTES) {
			cfg_error(pos,
				  "more than %d route lines in [remote %s]",
				  KME_RELAY_MAX_ROUTES, r->id);
			return -1;
		}
		if (kme_relay_cfg_ids(v, r->routes[i], KME_RELAY_MAX_PATH - 2,
				      &r->route_len[i], "KME in a route",
				      pos) == -1)
			return -1;
		if (r->route_len[i] == 0) {
			cfg_error(pos,
				  "route needs the intermediate KMEs in order");
			return -1;
		}
		r->nroutes++;
		return 0;
	}
	cfg_error(pos, "unknown key '%s' in [remote %s] (saes, route)", key,
		  r->id);
	return -1;
}

int
kme_relay_cfg_network(struct kme_cfg *c, const char *v,
		      const struct cfg_pos *pos)
{
	char buf[CFG_MAX_LINE], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		char *colon = strchr(tok, ':');

		if (colon == NULL) {
			cfg_error(
			    pos, "network needs pairs KME_X:KME_Y, not '%.70s'",
			    tok);
			return -1;
		}
		*colon = '\0';
		if (!kme_cfg_valid_id(tok) || !kme_cfg_valid_id(colon + 1) ||
		    strcmp(tok, colon + 1) == 0) {
			cfg_error(pos,
				  "network pair '%.64s:%.64s' needs two "
				  "different KME IDs",
				  tok, colon + 1);
			return -1;
		}
		if (c->nnet >= KME_MAX_NET_LINKS) {
			cfg_error(pos, "more than %d links in network",
				  KME_MAX_NET_LINKS);
			return -1;
		}
		snprintf(c->net[c->nnet][0], KME_ID_MAX + 1, "%s", tok);
		snprintf(c->net[c->nnet][1], KME_ID_MAX + 1, "%s", colon + 1);
		c->nnet++;
	}
	return 0;
}

/* Whether network names the link a-b (either way round). */
static bool
kme_relay_cfg_has_link(const struct kme_cfg *c, const char *a, const char *b)
{
	for (size_t i = 0; i < c->nnet; i++) {
		if ((strcmp(c->net[i][0], a) == 0 &&
		     strcmp(c->net[i][1], b) == 0) ||
		    (strcmp(c->net[i][0], b) == 0 &&
		     strcmp(c->net[i][1], a) == 0))
			return true;
	}
	return false;
}

/* A KME this configuration knows: itself, a peer, a remote, or in network. */
static bool
kme_relay_cfg_known(const struct kme_cfg *c, const char *id)
{
	if (strcmp(id, c->kme_id) == 0 || kme_cfg_peer_index(c, id) >= 0)
		return true;
	for (size_t i = 0; i < c->nremotes; i++) {
		if (strcmp(c->remotes[i].id, id) == 0)
			return true;
	}
	for (size_t i = 0; i < c->nnet; i++) {
		if (strcmp(c->net[i][0], id) == 0 ||
		    strcmp(c->net[i][1], id) == 0)
			return true;
	}
	return false;
}

/* Whether network connects this KME to dst (breadth first). */
static bool
kme_relay_cfg_reaches(const struct kme_cfg *c, const char *dst)
{
	const char *seen[2 * KME_MAX_NET_LINKS + 1];
	size_t nseen = 1, head = 0;

	seen[0] = c->kme_id;
	while (head < nseen) {
		const char *at = seen[head++];

		if (strcmp(at, dst) == 0)
			return true;
		for (size_t i = 0; i < c->nnet; i++) {
			for (int e = 0; e < 2; e++) {
				const char *nb = c->net[i][1 - e];
				bool dup = false;

				if (strcmp(c->net[i][e], at) != 0)
					continue;
				for (size_t j = 0; j < nseen && !dup; j++)
					dup = strcmp(seen[j], nb) == 0;
				if (!dup && nseen < ARRAY_LEN(seen))
					seen[nseen++] = nb;
			}
		}
	}
	return false;
}

static int
kme_relay_cfg_route(const struct kme_cfg *c, const struct kme_remote_cfg *r,
		    size_t ri, const char *path)
{
	const char *prev = c->kme_id;

	for (size_t h = 0; h < r->route_len[ri]; h++) {
		const char *id = r->routes[ri][h];

		if (strcmp(id, c->kme_id) == 0 || strcmp(id, r->id) == 0) {
			log_err("%s: [remote %s] route names KME %s, an end of "
				"the route; list the intermediate KMEs only",
				path, r->id, id);
			return -1;
		}
		for (size_t j = 0; j < h; j++) {
			if (strcmp(r->routes[ri][j], id) == 0) {
				log_err("%s: [remote %s] route passes KME %s "
					"twice",
					path, r->id, id);
				return -1;
			}
		}
		if (!kme_relay_cfg_known(c, id)) {
			log_err("%s: [remote %s] route names KME %s, which is "
				"no peer, no remote and not in network",
				path, r->id, id);
			return -1;
		}
		if (h == 0 && kme_cfg_peer_index(c, id) == -1) {
			log_err("%s: [remote %s] route starts at KME %s, which "
				"is not a [peer] of KME %s",
				path, r->id, id, c->kme_id);
			return -1;
		}
		if (h > 0 && c->nnet > 0 &&
		    !kme_relay_cfg_has_link(c, prev, id)) {
			log_err("%s: [remote %s] route hop %s->%s is not a "
				"link in network",
				path, r->id, prev, id);
			return -1;
		}
		prev = id;
	}
	if (c->nnet > 0 && !kme_relay_cfg_has_link(c, prev, r->id)) {
		log_err("%s: [remote %s] route hop %s->%s is not a link in "
			"network",
			path, r->id, prev, r->id);
		return -1;
	}
	return 0;
}

/* Each SAE belongs to exactly one KME: local, a peer's or a remote's. */
static int
kme_relay_cfg_saes(const struct kme_cfg *c, const struct kme_remote_cfg *r,
		   const char *path)
{
	for (size_t j = 0; j < r->nsaes; j++) {
		const char *s = r->saes[j];
		bool dup = kme_cfg_is_local_sae(c, s) ||
			   kme_cfg_peer_of_sae(c, s) != NULL ||
			   kme_relay_remote_of_sae(c, s) != r;

		for (size_t l = 0; l < j; l++)
			dup = dup || strcmp(r->saes[l], s) == 0;
		if (dup) {
			log_err("%s: SAE %s is listed twice (each SAE belongs "
				"to exactly one KME)",
				path, s);
			return -1;
		}
	}
	return 0;
}

int
kme_relay_cfg_validate(struct kme_cfg *c, const char *path)
{
	for (size_t i = 0; i < c->nnet; i++) {
		for (int e = 0; e < 2; e++) {
			const char *other = c->net[i][1 - e];

			if (strcmp(c->net[i][e], c->kme_id) == 0 &&
			    kme_cfg_peer_index(c, other) == -1) {
				log_err("%s: network pair %s:%s names KME %s, "
					"which is not a [peer] of KME %s",
					path, c->net[i][0], c->net[i][1], other,
					c->kme_id);
				return -1;
			}
		}
	}
	for (size_t i = 0; i < c->nremotes; i++) {
		const struct kme_remote_cfg *r = &c->remotes[i];

		if (strcmp(r->id, c->kme_id) == 0 ||
		    kme_cfg_peer_index(c, r->id) >= 0) {
			log_err("%s: [remote %s] is %s; [remote] is for KMEs "
				"without a direct link",
				path, r->id,
				strcmp(r->id, c->kme_id) == 0
				    ? "this KME itself"
				    : "also a [peer]");
			return -1;
		}
		if (r->nsaes == 0) {
			log_err("%s: [remote %s] needs saes", path, r->id);
			return -1;
		}
		if (kme_relay_cfg_saes(c, r, path) == -1)
			return -1;
		for (size_t ri = 0; ri < r->nroutes; ri++) {
			if (kme_relay_cfg_route(c, r, ri, path) == -1)
				return -1;
		}
		if (r->nroutes == 0 && !kme_relay_cfg_reaches(c, r->id)) {
			log_err("%s: [remote %s] has no route and network "
				"(%zu link(s)) does not connect KME %s to it",
				path, r->id, c->nnet, c->kme_id);
			return -1;
		}
	}
	return 0;
}

const struct kme_remote_cfg *
kme_relay_remote_of_sae(const struct kme_cfg *c, const char *sae)
{
	for (size_t i = 0; i < c->nremotes; i++) {
		for (size_t j = 0; j < c->remotes[i].nsaes; j++) {
			if (strcmp(c->remotes[i].saes[j], sae) == 0)
				return &c->remotes[i];
		}
	}
	return NULL;
}
