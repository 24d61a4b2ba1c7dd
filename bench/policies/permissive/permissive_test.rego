package portcullis.permissive_test

import data.portcullis.admin
import data.portcullis.connection
import data.portcullis.query

test_admins_map_to_admin if {
	d := connection.decision with input as {"token": {"sub": "carol", "groups": ["admins"]}, "startup": {"database": "template1"}}
	d.allow
	d.db_role == "admin"
}

test_unmapped_group_refused if {
	d := connection.decision with input as {"token": {"sub": "x", "groups": ["analysts"]}, "startup": {"database": "app"}}
	not d.allow
}

test_database_outside_the_list_refused if {
	d := connection.decision with input as {"token": {"sub": "carol", "groups": ["admins"]}, "startup": {"database": "postgres"}}
	not d.allow
}

test_every_statement_allowed_unmasked if {
	d := query.decision with input as {"statement": {"kind": "delete", "text": "DELETE FROM t", "relations": [], "functions": []}}
	d.allow
	not "mask" in object.keys(d)
}

test_admin_api_refused if {
	not admin.decision.allow with input as {"method": "ListSessions", "token": {"groups": ["admins"]}}
}
