# Query decision — statistics and other channels that print column values
#
# Masking rewrites result columns that RowDescription traces to a masked table column. Catalogs and
# views that print other tables' column values (planner statistics: histogram bounds, most common
# values; other sessions' query texts) are not traced that way, so a session with masks may not
# read them (data.portcullis.masked_session_denied_relations: "schema.name" matches that relation,
# a bare "name" the name in any schema), nor compute statistics of a masked relation (ANALYZE,
# VACUUM ANALYZE; a bare ANALYZE, which covers every table).
package portcullis.query

import data.portcullis.lib

default masked_session_denied_relations := []

masked_session_denied_relations := data.portcullis.masked_session_denied_relations

listed_relation(r, entry) if {
	contains(entry, ".")
	relation_ref_matches(r, entry)
}

listed_relation(r, entry) if {
	not contains(entry, ".")
	r.name == entry
}

deny contains msg if {
	count(active_masks) > 0
	some s in statements
	some r in object.get(s, "relations", [])
	some entry in masked_session_denied_relations
	listed_relation(r, entry)
	msg := sprintf(
		"%s prints column values of other tables (statistics, query texts) that masking cannot follow: not allowed for a session with masks",
		[lib.relation_label(r)],
	)
}

# Whether a statement computes planner statistics; a VACUUM the proxy did not say about is taken to.
analyzes(s) if s.analyze == true

analyzes(s) if {
	s.command == "VacuumStmt"
	not is_boolean(object.get(s, "analyze", null))
}

deny contains "ANALYZE without a table computes statistics of masked tables too: not allowed for a session with masks" if {
	count(active_masks) > 0
	some s in statements
	analyzes(s)
	count(object.get(s, "relations", [])) == 0
}

deny contains msg if {
	count(active_masks) > 0
	some s in statements
	analyzes(s)
	some r in object.get(s, "relations", [])
	some m in active_masks
	relation_ref_matches(r, mask_relation(m))
	msg := sprintf(
		"ANALYZE of %s would put values of its masked columns into pg_stats: not allowed for a session with masks",
		[lib.relation_label(r)],
	)
}
