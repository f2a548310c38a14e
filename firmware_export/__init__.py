"""Code generation for boards: C arrays, op resolvers, front end and firmware projects."""
