import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { migrate } from "./database.js";

describe("migrations", () => {
  it("applies a migration numbered below one that already ran (work that landed in another order)", () => {
    const db = new Database(":memory:");
    try {
      expect(
        migrate(db, [
          { version: 1, name: "a", sql: "CREATE TABLE a (x)" },
          { version: 3, name: "c", sql: "CREATE TABLE c (x)" },
        ]),
      ).toEqual([1, 3]);
      const all = [
        { version: 1, name: "a", sql: "CREATE TABLE a (x)" },
        { version: 2, name: "b", sql: "CREATE TABLE b (x)" },
        { version: 3, name: "c", sql: "CREATE TABLE c (x)" },
      ];
      expect(migrate(db, all)).toEqual([2]);
      expect(migrate(db, all)).toEqual([]);
      expect(
        db
          .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('a','b','c')")
          .get(),
      ).toEqual({ n: 3 });
    } finally {
      db.close();
    }
  });
});
