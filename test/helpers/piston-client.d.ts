/** The untyped piston-client package, as the Piston compatibility tests use it. */
declare module 'piston-client' {
  interface PistonClient {
    runtimes(): Promise<unknown>;
    execute(language: string, code: string, config?: Record<string, unknown>): Promise<unknown>;
  }
  export function piston(options?: { server?: string }): PistonClient;
  export default piston;
}
