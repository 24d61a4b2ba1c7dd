# The table in testdata/cases.json, shared with the TypeScript suite that evaluates the same inputs
# in the compiled WebAssembly (data-plane/policy/policies.int.test.ts): both engines must agree.
package portcullis.cases_test

import data.portcullis.admin
import data.portcullis.connection
import data.portcullis.query

cases := data.testdata.portcullis_cases

query_input(c) := {
	"session": cases.sessions[c.session],
	"protocol": "simple",
	"statement": c.statement,
	"statement_index": 0,
	"statement_count": 1,
	"now_ns": 1700000000000000000,
}

meets(d, e) if {
	d.allow == e.allow
	is_array(d.reasons)
	reason_ok(d, e)
	mask_ok(d, e)
	role_ok(d, e)
	max_session_ok(d, e)
}

reason_ok(d, e) if {
	not e.reason
	d.allow == true
	d.reasons == []
}

reason_ok(d, e) if {
	not e.reason
	d.allow == false
	count(d.reasons) > 0
}

reason_ok(d, e) if {
	some r in d.reasons
	contains(r, e.reason)
}

mask_ok(_, e) if not e.masked

mask_ok(d, e) if sort([m.column | some m in d.mask]) == sort(e.masked)

role_ok(_, e) if not e.db_role

role_ok(d, e) if d.db_role == e.db_role

max_session_ok(_, e) if not e.max_session_seconds

max_session_ok(d, e) if d.max_session_seconds == e.max_session_seconds

test_query_cases if {
	count(cases.query) >= 40
	failing := [{"case": c.name, "decision": d} |
		some c in cases.query
		d := query.decision with input as query_input(c)
		not meets(d, c.expect)
	]
	print("failing query cases:", failing)
	failing == []
}

test_connection_cases if {
	count(cases.connection) >= 5
	failing := [{"case": c.name, "decision": d} |
		some c in cases.connection
		d := connection.decision with input as c.input
		not meets(d, c.expect)
	]
	print("failing connection cases:", failing)
	failing == []
}

test_admin_cases if {
	count(cases.admin) >= 5
	failing := [{"case": c.name, "decision": d} |
		some c in cases.admin
		d := admin.decision with input as c.input
		not meets(d, c.expect)
	]
	print("failing admin cases:", failing)
	failing == []
}

test_every_query_case_cacheable if {
	every c in cases.query {
		query.cacheable with input as query_input(c)
	}
}
