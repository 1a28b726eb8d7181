export function Avatar({ name, src, size = 36 }: { name: string; src?: string | null; size?: number }) {
  const dimension = { width: size, height: size, fontSize: Math.round(size * 0.42) };
  return (
    <span className="avatar" style={dimension} aria-hidden="true">
      {src ? <img src={src} alt="" /> : Array.from(name.trim())[0] ?? "?"}
    </span>
  );
}
