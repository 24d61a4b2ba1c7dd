# METADATA
# title: Connection decision
# description: |
#   Decides whether a client with a verified token may open a session, and as which database role.
#   Input: proto/policy.ts ConnectionInput. Output: ConnectionDecision, always defined.
#   The token's `groups` and `roles` claims are matched against data.portcullis.role_mapping,
#   an ordered list: the first entry that matches wins, so the most privileged mapping comes first.
#   An entry may name the `issuer` it trusts (see mapping_issuer_matches).
package portcullis.connection

import data.portcullis.lib

# Configuration is read key by key (data.portcullis also holds these packages, so the whole
# document cannot be referenced from inside them).
default allowed_databases := ["app"]

allowed_databases := data.portcullis.allowed_databases

# Eight hours unless data says otherwise; a role may set its own max_session_seconds.
default default_max_session_seconds := 28800

default_max_session_seconds := data.portcullis.max_session_seconds

token := object.get(input, "token", {})

database := object.get(input, ["startup", "database"], null)

subject := lib.label(object.get(token, "sub", null))

# Indices of the role_mapping entries whose claim value the token carries.
default role_mapping := []

role_mapping := data.portcullis.role_mapping

mapping_matches := [i |
	some i, m in role_mapping
	m.value in lib.claim_set(token, m.claim)
	mapping_issuer_matches(m)
]

# Groups are only as good as the issuer that asserts them: with several issuers, any of them could
# put `groups: ["admins"]` in a token. So an entry with `issuer` maps only tokens of that issuer
# (exact `iss`); an entry without one maps tokens of the issuers in data.portcullis.group_issuers
# when that list is set, and of any configured issuer only when it is not (one issuer).
default group_issuers := null

group_issuers := data.portcullis.group_issuers

mapping_issuer_matches(m) if m.issuer == object.get(token, "iss", null)

mapping_issuer_matches(m) if {
	not m.issuer
	group_issuers == null
}

mapping_issuer_matches(m) if {
	not m.issuer
	object.get(token, "iss", null) in group_issuers
}

# Just-in-time role grants (data.portcullis.grants: {subject: [{id, role | schema, expires_at}]},
# patched in live by the data plane, which removes each at its end and re-decides the sessions it
# allowed): a granted role that data.portcullis.roles knows wins over the token's mapping. With
# several, the first by name.
default grants := {}

grants := data.portcullis.grants

# A grant names a `sub`, and a `sub` is unique only within its issuer: like groups, grants count for
# tokens of the issuers in data.portcullis.group_issuers when that list is set (another issuer's
# token with the same `sub` is another person), for any configured issuer only when it is not.
grant_issuer_trusted if group_issuers == null

grant_issuer_trusted if object.get(token, "iss", null) in group_issuers

default subject_grants := []

subject_grants := object.get(grants, object.get(token, "sub", ""), []) if grant_issuer_trusted

granted_roles := sort([r |
	some g in subject_grants
	r := g.role
	is_string(r)
	object.get(roles, r, null) != null
])

granted_role := granted_roles[0]

db_role := granted_role

db_role := role_mapping[min(mapping_matches)].db_role if not granted_role

default roles := {}

roles := data.portcullis.roles

max_session_seconds := object.get(roles, [db_role, "max_session_seconds"], default_max_session_seconds)

deny contains msg if {
	not db_role
	groups := concat(", ", sort(lib.claim_set(token, "groups") | lib.claim_set(token, "roles")))
	msg := sprintf("no database role is mapped for %s: none of the token's groups or roles (%s) is in role_mapping", [subject, groups])
}

deny contains msg if {
	not database in allowed_databases
	msg := sprintf("database %s is not allowed (allowed: %s)", [lib.label(database), concat(", ", allowed_databases)])
}

default decision := {"allow": false, "reasons": ["connection policy reached no decision"]}

decision := {
	"allow": true,
	"reasons": [],
	"db_role": db_role,
	"max_session_seconds": max_session_seconds,
} if {
	count(deny) == 0
	database in allowed_databases
}

decision := {"allow": false, "reasons": sort(deny)} if count(deny) > 0
