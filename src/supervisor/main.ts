// Placeholder until the supervisor lands (issue 3): refuse clearly rather than pretend.
export async function runSupervisor(_env: NodeJS.ProcessEnv): Promise<void> {
  throw new Error('supervisor not built yet');
}
