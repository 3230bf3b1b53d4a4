import { afterAll } from "bun:test";
import { openPostgresStorage } from "../../src/storage/postgres/storage";
import { TestDatabases } from "../support/postgres";
import { describeStorageContract } from "./storage-contract";

// The shared storage contract on PostgreSQL: each test on a database of its own, dropped after it.
const databases = new TestDatabases();
afterAll(() => databases.dropAll());

describeStorageContract("PostgreSQL", async () => {
  const database = await databases.create();
  const storage = await openPostgresStorage(database.url);
  return {
    storage,
    async dispose() {
      await storage.close();
      await database.drop();
    },
  };
});
