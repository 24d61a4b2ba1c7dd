// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface GrantMessage {
  'id'?: (string);
  'subject'?: (string);
  'kind'?: (string);
  'value'?: (string);
  'reason'?: (string);
  'created_by'?: (string);
  'created_at'?: (string);
  'expires_at'?: (string);
  'status'?: (string);
  'revoked_by'?: (string);
  'revoked_at'?: (string);
  'sequence'?: (number | string | Long);
  'request_id'?: (string);
  'published_at'?: (string);
}

export interface GrantMessage__Output {
  'id': (string);
  'subject': (string);
  'kind': (string);
  'value': (string);
  'reason': (string);
  'created_by': (string);
  'created_at': (string);
  'expires_at': (string);
  'status': (string);
  'revoked_by': (string);
  'revoked_at': (string);
  'sequence': (number);
  'request_id': (string);
  'published_at': (string);
}
