// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface Session {
  'id'?: (string);
  'data_plane_id'?: (string);
  'region'?: (string);
  'subject'?: (string);
  'issuer'?: (string);
  'jti'?: (string);
  'db_role'?: (string);
  'database'?: (string);
  'client_addr'?: (string);
  'application_name'?: (string);
  'started_at'?: (string);
  'last_heartbeat_at'?: (string);
  'statements'?: (number | string | Long);
  'denied'?: (number | string | Long);
  'claims_digest'?: (string);
  'token_expires_at'?: (string);
}

export interface Session__Output {
  'id': (string);
  'data_plane_id': (string);
  'region': (string);
  'subject': (string);
  'issuer': (string);
  'jti': (string);
  'db_role': (string);
  'database': (string);
  'client_addr': (string);
  'application_name': (string);
  'started_at': (string);
  'last_heartbeat_at': (string);
  'statements': (number);
  'denied': (number);
  'claims_digest': (string);
  'token_expires_at': (string);
}
