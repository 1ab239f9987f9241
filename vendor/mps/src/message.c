/* message.c: the arena's message queue
 *
 * Messages are allocated with malloc before the world stops (the gc and
 * gc_start messages at the start of a trace, finalization messages at
 * registration), so posting never allocates.  A message of a disabled
 * type is dropped; if that happens while the world is stopped, freeing it
 * waits until the world restarts.  See DESIGN.md#messages.
 */

#include <stdlib.h>

#include "mpm.h"

#define TYPE_BIT(type) (1u << (type))
#define TYPE_VALID(type) ((type) <= mps_message_type_gc_start())

Bool MessageCheck(Message message)
{
  return message != NULL && message->sig == MessageSig &&
         message->arena != NULL && TYPE_VALID(message->type);
}

Res MessageCreate(Message *message_o, Arena arena, mps_message_type_t type)
{
  Message message = calloc(1, sizeof *message);
  if (message == NULL)
    return MPS_RES_MEMORY;
  message->arena = arena;
  message->type = type;
  RingInit(&message->queue_ring);
  message->sig = MessageSig;
  *message_o = message;
  return MPS_RES_OK;
}

void MessageDestroy(Message message)
{
  AVERT(Message, message);
  if (!RingIsSingle(&message->queue_ring))
    RingRemove(&message->queue_ring);
  message->sig = SigInvalid;
  free(message);
}

Bool MessageTypeEnabled(Arena arena, mps_message_type_t type)
{
  return TYPE_VALID(type) && (arena->enabled_types & TYPE_BIT(type)) != 0;
}

void MessagePost(Arena arena, Message message)
{
  AVERT(Message, message);
  if (MessageTypeEnabled(arena, message->type)) {
    message->posted = TRUE;
    RingAppend(&arena->messages, &message->queue_ring);
  } else if (arena->busy) {
    /* Free it once the world restarts. */
    message->posted = FALSE;
    message->queue_ring.next = (Ring)(void *)arena->deferred_free;
    arena->deferred_free = message;
  } else {
    MessageDestroy(message);
  }
}

void MessageFlushDeferred(Arena arena)
{
  while (arena->deferred_free != NULL) {
    Message message = arena->deferred_free;
    arena->deferred_free = (Message)(void *)message->queue_ring.next;
    RingInit(&message->queue_ring);
    MessageDestroy(message);
  }
}

void MessageEmptyType(Arena arena, mps_message_type_t type)
{
  Ring node, next;
  RING_FOR(node, &arena->messages, next) {
    Message message = RING_ELT(Message, queue_ring, node);
    if (message->type == type)
      MessageDestroy(message);
  }
}
