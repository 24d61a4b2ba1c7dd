# Query decision — the function allow-list
#
# Restricted sessions (roles without `unrestricted`) and sessions with masks may call only
# allow-listed functions: data.portcullis.allowed_functions for every such session, plus the
# role's own `functions` (data.portcullis.roles.<role>.functions). Anything else is denied,
# whatever it is, because a function can run SQL given as text (ts_stat, query_to_xml, crosstab,
# dblink), write (lo_from_bytea, nextval), wait or lock (pg_sleep, pg_advisory_lock) or talk to
# other sessions (pg_notify), and the proxy cannot see into any of that.
#
# Names are compared exactly as the proxy reports them (proto/policy.ts StatementInfo.functions:
# the names the server reads, a part double-quoted when it is not a plain lower-case identifier):
#   - a plain entry ("lower") allows the call written `lower(…)` or `pg_catalog.lower(…)`: the
#     built-in, since pg_catalog stays first on search_path in these sessions (rule below);
#   - a qualified entry ("sales.order_total") allows exactly that qualified call;
#   - `"LOWER"(…)`, `"PG_CATALOG".lower(…)`, `public.lower(…)` are other functions and match
#     no plain entry.
# A field selection `(x).name` is reported as a call of `name` (on a value that is not composite
# PostgreSQL calls name(x)), so it too needs `name` on the list.
# Unrestricted sessions without masks (an admin in a mask-exempt group) are not limited by the list;
# data.portcullis.dangerous_functions still applies to everyone (query.rego).
package portcullis.query

import data.portcullis.lib

default allowed_functions := []

allowed_functions := data.portcullis.allowed_functions

# The sessions the allow-list applies to.
functions_allow_listed if restricted

functions_allow_listed if count(active_masks) > 0

session_functions contains f if some f in allowed_functions

session_functions contains f if some f in object.get(role_cfg, "functions", [])

function_allowed(f) if f in session_functions

function_allowed(f) if {
	some name in session_functions
	f == concat(".", ["pg_catalog", name])
}

allow_list_session_label := sprintf("role %s", [lib.label(db_role)]) if restricted

allow_list_session_label := sprintf("role %s in a session with masks", [lib.label(db_role)]) if {
	not restricted
	count(active_masks) > 0
}

deny contains msg if {
	functions_allow_listed
	some s in statements
	some f in object.get(s, "functions", [])
	not function_allowed(f)
	msg := sprintf(
		"function %s is not allowed for %s: only allow-listed functions may run here (data.portcullis.allowed_functions and the role's functions)",
		[lib.label(f), allow_list_session_label],
	)
}

# A bare function name means the built-in only while pg_catalog is searched first, which it is unless
# search_path lists it later. So in these sessions search_path may be set only to a literal list that
# names pg_catalog first or not at all (RESET and SET … TO DEFAULT go back to the role's default).
deny contains msg if {
	functions_allow_listed
	some s in statements
	some setting in changed_settings(s)
	lower(object.get(setting, "name", "")) == "search_path"
	not object.get(setting, "reset", false) == true
	not pg_catalog_first(object.get(setting, "value", null))
	msg := sprintf(
		"search_path %s is not allowed for %s: it must be a literal list with pg_catalog first or absent, so that function names mean the built-ins",
		[lib.label(object.get(setting, "value", null)), allow_list_session_label],
	)
}

pg_catalog_first(value) if {
	is_string(value)
	elements := [e | some part in split(value, ","); e := path_element(part)]
	not pg_catalog_later(elements)
}

pg_catalog_later(elements) if {
	some i, e in elements
	i > 0
	e == "pg_catalog"
}

# One search_path element as the server reads it: "Quoted" as written, unquoted folded to lower case.
path_element(part) := trim(trim_space(part), "\"") if startswith(trim_space(part), "\"")

path_element(part) := lower(trim_space(part)) if not startswith(trim_space(part), "\"")
