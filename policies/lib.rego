# METADATA
# title: Shared helpers
# description: Small total functions the Portcullis default policies share. None of them reads input.now_ns.
package portcullis.lib

# Writing rules for these policies (they fail closed only if followed):
#   - never negate a call whose argument may be undefined: `not f(x.y)` and `not x.y in s` are
#     undefined (not true) when x.y is missing; use object.get(x, "y", null) inside the call;
#   - build every reason with total functions (label, relation_label): a reason that is
#     undefined drops the denial it belongs to.

# claim_set(claims, name) is the set of string values of a claim that is either a string or an
# array of strings; any other shape (absent, number, object) is the empty set.
default claim_set(_, _) := set()

claim_set(claims, name) := {v | some v in claims[name]; is_string(v)} if is_array(claims[name])

claim_set(claims, name) := {claims[name]} if is_string(claims[name])

# base_name(f) is a function name without its schema and quotes, lower-case:
# "pg_catalog.pg_read_file" and "\"PG_READ_FILE\"" both give "pg_read_file".
base_name(f) := name if {
	parts := split(lower(f), ".")
	name := trim(parts[count(parts) - 1], "\"")
}

# label(x) is a printable form of any value, for reasons.
label(x) := x if is_string(x)

label(x) := "null" if x == null

label(x) := json.marshal(x) if {
	not is_string(x)
	x != null
}

# relation_label(r) is "schema.name", or the bare name when the schema is unknown.
relation_label(r) := concat(".", [r.schema, label(object.get(r, "name", null))]) if is_string(r.schema)

relation_label(r) := label(object.get(r, "name", null)) if not is_string(object.get(r, "schema", null))
