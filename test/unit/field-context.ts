import type { FieldContext } from "../../src/field-rules";
import { DEFAULT_STAGES, StageDictionary } from "../../src/stage-dictionary";

/** The field context every unit test of the body rules uses: built-in stages, the default zone. */
export const SHANGHAI_CONTEXT: FieldContext = {
  stages: new StageDictionary(DEFAULT_STAGES),
  timeZone: "Asia/Shanghai",
};
