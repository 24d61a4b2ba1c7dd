package portcullis.admin_test

import data.portcullis.admin

call(groups, method) := d if {
	d := admin.decision with input as {
		"token": {"iss": "https://idp.example", "sub": "ops", "aud": "portcullis-admin", "exp": 2000000000, "groups": groups},
		"method": method,
		"request": {},
	}
}

test_admins_may_call_anything if {
	call(["admins"], "RevokeSubject").allow == true
	call(["admins"], "PublishBundle").allow == true
	call(["admins"], "ActivateBundle").reasons == []
}

test_operators_may_read_fleet if {
	call(["operators"], "ListSessions").allow == true
	call(["operators"], "GetFleetStatus").allow == true
	call(["operators"], "QueryDecisions").allow == true
	call(["operators"], "ShadowReport").allow == true
	call(["operators"], "ReplayDecisions").allow == false
	call(["admins"], "ReplayDecisions").allow == true
}

test_operators_may_not_revoke_or_publish if {
	d := call(["operators"], "RevokeSession")
	d.allow == false
	some r in d.reasons
	contains(r, "ops may not call RevokeSession")
	call(["operators"], "PublishBundle").allow == false
	call(["operators"], "ActivateBundle").allow == false
}

test_grpc_path_form if {
	call(["operators"], "/portcullis.admin.v1.Admin/ListSessions").allow == true
	call(["operators"], "/portcullis.admin.v1.Admin/RevokeToken").allow == false
}

test_other_groups_denied if {
	call(["analysts", "engineers"], "ListSessions").allow == false
	call([], "ListSessions").allow == false
}

test_missing_method_denied if {
	d := admin.decision with input as {"token": {"sub": "x", "groups": ["operators"]}}
	d.allow == false
}

test_empty_method_denied_even_for_named_lists if {
	call(["operators"], "").allow == false
}

test_empty_input_denied if {
	d := admin.decision with input as {}
	d.allow == false
	count(d.reasons) == 1
}

test_group_methods_from_data if {
	d := admin.decision with input as {"token": {"sub": "x", "groups": ["auditors"]}, "method": "QueryDecisions"}
		with data.portcullis.admin_api.group_methods as {"auditors": ["QueryDecisions"]}
	d.allow == true
}

test_any_subject_may_request_access_for_itself if {
	call([], "RequestAccess").allow == true
	call(["analysts"], "/portcullis.admin.v1.Admin/RequestAccess").allow == true
}

test_request_access_needs_a_subject if {
	d := admin.decision with input as {"token": {"groups": []}, "method": "RequestAccess"}
	d.allow == false
}

test_approving_is_not_self_service if {
	call(["analysts"], "ApproveRequest").allow == false
	call(["analysts"], "Grant").allow == false
	call(["admins"], "ApproveRequest").allow == true
}
