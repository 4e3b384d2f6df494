// wgsl_reflect's `main` is a CommonJS file inside a "type": "module" package, so the code
// imports its ES module build directly (FACTS.md); this gives that path the package's types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
