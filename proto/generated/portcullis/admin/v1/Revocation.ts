// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface Revocation {
  'id'?: (string);
  'kind'?: (string);
  'value'?: (string);
  'reason'?: (string);
  'created_at'?: (string);
  'created_by'?: (string);
  'expires_at'?: (string);
  'published_at'?: (string);
  'acks'?: (number);
  'sessions_cut'?: (number | string | Long);
}

export interface Revocation__Output {
  'id': (string);
  'kind': (string);
  'value': (string);
  'reason': (string);
  'created_at': (string);
  'created_by': (string);
  'expires_at': (string);
  'published_at': (string);
  'acks': (number);
  'sessions_cut': (number);
}
