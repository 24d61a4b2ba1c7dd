# METADATA
# title: Query decision (permissive bench policy)
# description: |
#   Every statement is allowed and nothing is masked: the driver suite bench measures what the
#   proxy itself does to a driver (the wire protocol, name resolution, the rules it enforces
#   whatever the policy says), not the default policy's refusals. pg_cancel_backend and
#   pg_terminate_backend are allowed here: the server itself lets a role without superuser or
#   pg_signal_backend signal only backends of its own role.
package portcullis.query

default decision := {"allow": true, "reasons": []}

# The decision reads nothing but the statement's presence: the same for every input.
default cacheable := true

default cacheable_by_shape := true
