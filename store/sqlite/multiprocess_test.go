package sqlite

// helperEnv, when set, makes the test binary run as a helper process.
const helperEnv = "ROTA_SQLITE_TEST_HELPER"

func runHelper() int { return 0 }
