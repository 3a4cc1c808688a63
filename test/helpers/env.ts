/**
 * Test-scoped process environment: the AWS SDK and the pool read process.env, so tests that
 * point them somewhere set variables for one test and put the old values back after it.
 */

/** Sets `vars` in process.env; the returned function restores what was there (or unsets). */
export function setEnv(vars: Readonly<Record<string, string>>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
