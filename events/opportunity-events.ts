import { Type, type Static } from "@sinclair/typebox";

/**
 * The updatable fields of an opportunity and the kind of value an event holds for each. This is the shape of
 * the facts, not the rules of the HTTP contract (those live in src/): `null` here means "no value".
 */
export const OPPORTUNITY_FIELDS = {
  opportunityName: "text",
  projectLocation: "text",
  operatorName: "text",
  amount: "number",
  expectedCloseDate: "text",
  confidencePct: "text",
  stage: "text",
  opportunityType: "text",
  productType: "text",
  source: "text",
  salesExpansionId: "integer",
  channelExpansionId: "integer",
  preSalesId: "integer",
  preSalesName: "text",
  competitorName: "text",
  archived: "boolean",
  pushedToOms: "boolean",
  omsPushTime: "text",
  status: "text",
  description: "text",
} as const;

export type OpportunityField = keyof typeof OPPORTUNITY_FIELDS;
export type FieldKind = (typeof OPPORTUNITY_FIELDS)[OpportunityField];
export const OPPORTUNITY_FIELD_NAMES = Object.keys(OPPORTUNITY_FIELDS) as OpportunityField[];

/** A field's value as events hold it; 64-bit IDs beyond 2^53 are bigints (see exact-json.ts). */
export type FieldValue = string | number | bigint | boolean | null;
export type FieldValues = Partial<Record<OpportunityField, FieldValue>>;

export const OPPORTUNITY_CREATED = "OpportunityCreated";
export const OPPORTUNITY_UPDATED = "OpportunityUpdated";

const Integer64 = Type.Union([Type.Integer(), Type.BigInt()]);
const valueSchemaOf = { text: Type.String(), number: Type.Number(), integer: Integer64, boolean: Type.Boolean() };

const fieldValueSchemas = Object.fromEntries(
  OPPORTUNITY_FIELD_NAMES.map((name) => [name, Type.Optional(Type.Union([valueSchemaOf[OPPORTUNITY_FIELDS[name]], Type.Null()]))]),
);
const FieldValuesSchema = Type.Object(fieldValueSchemas, { additionalProperties: false });

export const OpportunityCreatedData = Type.Composite(
  [
    Type.Object({
      id: Type.Integer({ minimum: 1 }),
      opportunityCode: Type.String({ minLength: 1 }),
      endCustomerName: Type.String(),
    }),
    FieldValuesSchema,
  ],
  { additionalProperties: false },
);
export const OpportunityUpdatedData = Type.Object(
  { changes: FieldValuesSchema, previous: FieldValuesSchema },
  { additionalProperties: false },
);
export const EventMetadata = Type.Object({
  actor: Type.String({ minLength: 1 }),
  requestId: Type.String(),
  idempotencyKey: Type.Optional(Type.String()),
  /** Set on the events of a batch update: the item's index in the batch (0-based), whose request is requestId. */
  batchIndex: Type.Optional(Type.Integer({ minimum: 0 })),
});

export type OpportunityCreatedData = { id: number; opportunityCode: string; endCustomerName: string } & FieldValues;
export type OpportunityUpdatedData = { changes: FieldValues; previous: FieldValues };
export type EventMetadata = Static<typeof EventMetadata>;

/** Current shape of each event type's data; bump when a shape changes and add an upcaster for the old one. */
export const SCHEMA_VERSIONS = { [OPPORTUNITY_CREATED]: 1, [OPPORTUNITY_UPDATED]: 1 } as const;

export type OpportunityEvent =
  | { type: typeof OPPORTUNITY_CREATED; data: OpportunityCreatedData }
  | { type: typeof OPPORTUNITY_UPDATED; data: OpportunityUpdatedData };
