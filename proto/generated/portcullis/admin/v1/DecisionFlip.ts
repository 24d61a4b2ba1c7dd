// Original file: proto/admin.proto


export interface DecisionFlip {
  'id'?: (string);
  'at'?: (string);
  'kind'?: (string);
  'subject'?: (string);
  'db_role'?: (string);
  'relations'?: (string)[];
  'change'?: (string);
  'sql'?: (string);
  'recorded_reasons'?: (string)[];
  'candidate_reasons'?: (string)[];
  'recorded_revision'?: (string);
}

export interface DecisionFlip__Output {
  'id': (string);
  'at': (string);
  'kind': (string);
  'subject': (string);
  'db_role': (string);
  'relations': (string)[];
  'change': (string);
  'sql': (string);
  'recorded_reasons': (string)[];
  'candidate_reasons': (string)[];
  'recorded_revision': (string);
}
