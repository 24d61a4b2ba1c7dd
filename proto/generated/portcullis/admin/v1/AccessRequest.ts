// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface AccessRequest {
  'id'?: (string);
  'subject'?: (string);
  'kind'?: (string);
  'value'?: (string);
  'seconds'?: (number | string | Long);
  'reason'?: (string);
  'created_at'?: (string);
  'status'?: (string);
  'decided_by'?: (string);
  'decided_at'?: (string);
  'note'?: (string);
  'grant_id'?: (string);
}

export interface AccessRequest__Output {
  'id': (string);
  'subject': (string);
  'kind': (string);
  'value': (string);
  'seconds': (number);
  'reason': (string);
  'created_at': (string);
  'status': (string);
  'decided_by': (string);
  'decided_at': (string);
  'note': (string);
  'grant_id': (string);
}
