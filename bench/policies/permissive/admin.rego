# METADATA
# title: Admin API decision (permissive bench policy)
# description: The bench calls no admin API, so every call is refused.
package portcullis.admin

default decision := {"allow": false, "reasons": ["the permissive bench policy allows no admin call"]}
