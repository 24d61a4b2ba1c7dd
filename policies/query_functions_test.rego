# The function allow-list (query_functions.rego), role names by parsed name, statistics and ANALYZE for
# sessions with masks (query_statistics.rego), and WHERE conditions that cannot depend on the row.
package portcullis.query_functions_test

import data.portcullis.query_test as t

carol(statement) := t.admin(statement)

fn(functions) := t.select_fn(functions)

# ---------------------------------------------------------------------------------------------
# Functions that run SQL given as text: not on the list, so denied to restricted and masked sessions

sql_text_functions := [
	"ts_stat", "pg_catalog.ts_stat", "ts_rewrite", "crosstab", "crosstab2", "public.crosstab", "connectby",
	"query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml", "table_to_xml",
	"table_to_xmlschema", "schema_to_xml", "database_to_xml_and_xmlschema", "dblink", "dblink_exec",
]

test_sql_text_functions_denied_to_analyst_and_masked_admin if {
	every f in sql_text_functions {
		t.denied_with(t.analyst(fn([f])), sprintf("function %s is not allowed for role analyst", [f]))
		t.denied_with(carol(fn([f])), sprintf("function %s is not allowed for role admin in a session with masks", [f]))
		t.denied_with(t.hr_analyst(fn([f])), "only allow-listed functions may run here")
	}
}

test_unmasked_admin_not_limited_by_the_list if {
	t.allowed(t.hr_admin(fn(["ts_stat", "crosstab", "pg_sleep", "public.my_report"])))
}

test_dangerous_functions_still_denied_to_unmasked_admin if {
	t.denied_with(t.hr_admin(fn(["query_to_xml"])), "function query_to_xml is not allowed")
}

test_everyday_functions_allowed if {
	t.allowed(t.analyst(fn([
		"count", "sum", "avg", "pg_catalog.count", "lower", "pg_catalog.lower", "date_trunc", "now",
		"pg_catalog.extract", "pg_catalog.similar_to_escape", "pg_catalog.btrim", "pg_catalog.timezone",
	])))
	t.allowed(carol(fn(["jsonb_build_object", "to_char", "generate_series", "row_number", "xpath"])))
	t.denied_with(t.analyst(fn(["not_a_listed_function"])), "function not_a_listed_function is not allowed")
}

test_names_compared_as_the_server_reads_them if {
	# quoted names are other functions: "LOWER"(x) is not lower(x); a schema other than pg_catalog is not the built-in
	t.denied_with(t.analyst(fn(["\"LOWER\""])), "function \"LOWER\" is not allowed")
	t.denied_with(t.analyst(fn(["\"PG_CATALOG\".lower"])), "is not allowed")
	t.denied_with(t.analyst(fn(["public.lower"])), "function public.lower is not allowed")
	t.denied_with(t.analyst(fn(["\"pg_catalog.lower\""])), "is not allowed")
	t.denied_with(t.analyst(fn(["app.pg_catalog.lower"])), "is not allowed")
}

test_side_effect_functions_by_role if {
	for_analyst := [
		"pg_notify", "lo_from_bytea", "lo_create", "lo_put", "lo_unlink", "pg_advisory_lock",
		"pg_try_advisory_xact_lock", "pg_sleep", "pg_sleep_for", "nextval", "setval",
	]
	every f in for_analyst {
		t.denied_with(t.analyst(fn([f])), sprintf("function %s is not allowed for role analyst", [f]))
	}

	# app_rw may NOTIFY, so pg_notify; sequences and advisory locks too; no large objects
	t.allowed(t.app_rw(fn(["pg_notify", "nextval", "pg_advisory_xact_lock", "pg_sleep"])))
	t.denied_with(t.app_rw(fn(["lo_from_bytea"])), "function lo_from_bytea is not allowed for role app_rw")
	t.denied_with(carol(fn(["lo_create"])), "lo_create is not allowed")
}

test_allow_list_is_data if {
	d := t.analyst(fn(["crosstab"])) with data.portcullis.allowed_functions as ["crosstab"]
	t.allowed(d)
	q := t.analyst(fn(["sales.order_total"])) with data.portcullis.allowed_functions as ["sales.order_total"]
	t.allowed(q)
	bare := t.analyst(fn(["order_total"])) with data.portcullis.allowed_functions as ["sales.order_total"]
	t.denied_with(bare, "function order_total is not allowed")
	r := t.analyst(fn(["pg_sleep"])) with data.portcullis.roles.analyst.functions as ["pg_sleep"]
	t.allowed(r)
}

test_nested_statements_checked if {
	inner := fn(["ts_stat"])
	prep := object.union(t.stmt("prepare", "PrepareStmt", []), {"inner": inner})
	t.denied_with(t.analyst(prep), "function ts_stat is not allowed")
}

# ---------------------------------------------------------------------------------------------
# search_path must keep pg_catalog first in these sessions

path(value) := object.union(t.stmt("set", "VariableSetStmt", []), {"settings": [{"name": "search_path", "value": value, "local": false}]})

test_search_path_with_pg_catalog_later_denied if {
	every v in ["public, pg_catalog", "sales,pg_catalog", "sales, \"pg_catalog\"", "sales, PG_CATALOG", "\"$user\", public,\tpg_catalog "] {
		t.denied_with(t.analyst(path(v)), "it must be a literal list with pg_catalog first")
		t.denied_with(carol(path(v)), "pg_catalog first")
	}
	t.denied_with(t.analyst(path(null)), "search_path null is not allowed")
}

test_search_path_with_pg_catalog_first_or_absent_allowed if {
	every v in ["sales", "pg_catalog, sales", "sales, \"PG_CATALOG\"", "\"$user\", public", ""] {
		t.allowed(t.analyst(path(v)))
	}
	reset := object.union(t.stmt("set", "VariableSetStmt", []), {"settings": [{"name": "search_path", "value": null, "local": false, "reset": true}]})
	t.allowed(t.analyst(reset))
	t.allowed(t.hr_admin(path("public, pg_catalog")))
}

# ---------------------------------------------------------------------------------------------
# Predefined roles by parsed name

test_privileged_role_by_parsed_name if {
	g := object.union(t.stmt("grant", "GrantRoleStmt", []), {
		"text": "GRANT U&\"pg_execute_server_progra\\006D\" TO admin",
		"roles": ["pg_execute_server_program", "admin"],
	})
	t.denied_with(carol(g), "predefined role pg_execute_server_program")
	t.denied_with(t.hr_admin(g), "predefined role pg_execute_server_program")
	r := object.union(t.stmt("role", "CreateRoleStmt", []), {"text": "CREATE ROLE x IN ROLE \"pg_signal_backend\"", "roles": ["x", "pg_signal_backend"]})
	t.denied_with(t.hr_admin(r), "predefined role pg_signal_backend")
}

test_role_named_in_text_only_is_not_a_grant_of_it if {
	c := object.union(t.stmt("grant", "GrantRoleStmt", []), {"text": "GRANT analyst TO admin -- not pg_signal_backend", "roles": ["analyst", "admin"]})
	t.allowed(t.hr_admin(c))

	# another role that merely looks alike is not the predefined one
	u := object.union(t.stmt("grant", "GrantRoleStmt", []), {"text": "GRANT \"PG_SIGNAL_BACKEND\" TO admin", "roles": ["PG_SIGNAL_BACKEND", "admin"]})
	t.allowed(t.hr_admin(u))
}

test_privileged_role_text_fallback_without_roles if {
	g := object.union(t.stmt("grant", "GrantRoleStmt", []), {"text": "GRANT pg_read_server_files TO admin"})
	t.denied_with(t.hr_admin(g), "predefined role pg_read_server_files")
}

# ---------------------------------------------------------------------------------------------
# Statistics and ANALYZE for sessions with masks

test_statistics_views_denied_to_masked_session if {
	every r in [
		t.rel("pg_catalog", "pg_stats", "read"), t.rel("pg_catalog", "pg_stats_ext", "read"),
		t.rel("pg_catalog", "pg_stats_ext_exprs", "read"), t.rel("pg_catalog", "pg_statistic", "read"),
		t.rel("pg_catalog", "pg_statistic_ext_data", "read"), t.unresolved("pg_stats", "read"),
		t.rel("public", "pg_stat_statements", "read"), t.rel("pg_catalog", "pg_stat_activity", "read"),
	] {
		t.denied_with(carol(t.select_from([r])), "masking cannot follow: not allowed for a session with masks")
	}
	t.allowed(t.hr_admin(t.select_from([t.rel("pg_catalog", "pg_stats", "read")])))
	t.allowed(carol(t.select_from([t.rel("pg_catalog", "pg_class", "read")])))
}

vacuum(relations, analyze) := object.union(t.stmt("utility", "VacuumStmt", relations), {"analyze": analyze})

test_analyze_of_masked_relation_denied_to_masked_session if {
	t.denied_with(carol(vacuum([t.rel("hr", "employees", "write")], true)), "ANALYZE of hr.employees would put values of its masked columns into pg_stats")
	t.denied_with(carol(vacuum([t.unresolved("employees", "write")], true)), "ANALYZE of employees")
	t.denied_with(carol(vacuum([], true)), "ANALYZE without a table")
	t.allowed(carol(vacuum([t.rel("sales", "orders", "write")], true)))

	# a plain VACUUM of a masked relation falls under the rule for utility statements on masked relations
	t.denied_with(carol(vacuum([t.rel("hr", "employees", "write")], false)), "VacuumStmt on masked relation hr.employees")
	t.allowed(carol(vacuum([], false)))
	t.allowed(t.hr_admin(vacuum([], true)))

	# a data plane that does not say: taken to analyze
	t.denied_with(carol(t.stmt("utility", "VacuumStmt", [t.rel("hr", "employees", "write")])), "ANALYZE of hr.employees")
}

test_statistics_relation_list_is_data if {
	d := carol(t.select_from([t.rel("pg_catalog", "pg_stats", "read")])) with data.portcullis.masked_session_denied_relations as []
	t.allowed(d)
	e := carol(t.select_from([t.rel("audit", "query_log", "read")])) with data.portcullis.masked_session_denied_relations as ["audit.query_log"]
	t.denied_with(e, "audit.query_log prints column values")
}

# ---------------------------------------------------------------------------------------------
# A WHERE that cannot depend on the row is reported as none (has_where false): denied like no WHERE

test_constant_where_denied if {
	d := object.union(t.stmt("delete", "DeleteStmt", [t.rel("sales", "orders", "write")]), {"has_where": false, "text": "DELETE FROM sales.orders WHERE true"})
	t.denied_with(t.app_rw(d), "DELETE without WHERE would change every row")
	t.denied_with(t.hr_admin(d), "DELETE without WHERE")
}
