# METADATA
# title: Admin API decision
# description: |
#   Authorizes admin API calls. Input: proto/policy.ts AdminInput. Output: AdminDecision, always defined.
#   data.portcullis.admin_api.group_methods maps a token group to the methods it may call
#   ("*" for every method). The method may be given bare ("ListSessions") or as a gRPC path
#   ("/portcullis.admin.v1.Admin/ListSessions").
#   data.portcullis.admin_api.self_service_methods lists what any verified token may call for
#   itself (RequestAccess: asking for just-in-time access; approving it stays with group_methods).
package portcullis.admin

import data.portcullis.lib

default group_methods := {}

group_methods := data.portcullis.admin_api.group_methods

groups := lib.claim_set(object.get(input, "token", {}), "groups")

method := name if {
	is_string(input.method)
	parts := split(input.method, "/")
	name := parts[count(parts) - 1]
	name != ""
}

default self_service_methods := []

self_service_methods := data.portcullis.admin_api.self_service_methods

permitted if {
	method in self_service_methods
	is_string(object.get(input, ["token", "sub"], null))
}

permitted if {
	some g in groups
	some allowed in object.get(group_methods, g, [])
	allowed in {"*", method}
}

default decision := {"allow": false, "reasons": ["admin policy reached no decision"]}

decision := {"allow": true, "reasons": []} if permitted

decision := {"allow": false, "reasons": [msg]} if {
	not permitted
	msg := sprintf("%s may not call %s: no group of the token (%s) grants it", [
		lib.label(object.get(input, ["token", "sub"], null)),
		lib.label(object.get(input, "method", null)),
		concat(", ", sort(groups)),
	])
}
