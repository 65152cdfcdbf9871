/** The stages every tier migration goes through, in order (migrate/transitions.ts defines each). */
export type StageId = "expand" | "copy" | "cutover" | "contract";
export const stageOrder: readonly StageId[] = ["expand", "copy", "cutover", "contract"];
export const isStageId = (v: string): v is StageId => (stageOrder as readonly string[]).includes(v);
