/** An inline error, announced to screen readers; renders nothing without a message. */
export function ErrorMessage({ message, id }: { message: string | null | undefined; id?: string }) {
  if (!message) return null;
  return (
    <p role="alert" className="error" id={id}>
      {message}
    </p>
  );
}
