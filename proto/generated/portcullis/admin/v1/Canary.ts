// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface Canary {
  'revision'?: (string);
  'previous_revision'?: (string);
  'selector'?: (string);
  'state'?: (string);
  'started_at'?: (string);
  'ended_at'?: (string);
  'reason'?: (string);
  'by'?: (string);
  'bake_seconds'?: (number | string);
  'decisions'?: (number | string | Long);
  'deny_rate'?: (number | string);
  'baseline_decisions'?: (number | string | Long);
  'baseline_deny_rate'?: (number | string);
  'evaluation_errors'?: (number | string | Long);
  'load_errors'?: (number | string | Long);
}

export interface Canary__Output {
  'revision': (string);
  'previous_revision': (string);
  'selector': (string);
  'state': (string);
  'started_at': (string);
  'ended_at': (string);
  'reason': (string);
  'by': (string);
  'bake_seconds': (number);
  'decisions': (number);
  'deny_rate': (number);
  'baseline_decisions': (number);
  'baseline_deny_rate': (number);
  'evaluation_errors': (number);
  'load_errors': (number);
}
