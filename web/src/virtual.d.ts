/** Built by web/vite.config.ts from src/runtimes/manifests: runtime name -> starter program. */
declare module 'virtual:starters' {
  const starters: Record<string, string>;
  export default starters;
}
